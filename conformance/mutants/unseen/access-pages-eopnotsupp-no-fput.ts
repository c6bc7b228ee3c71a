/**
 * access-pages-eopnotsupp-no-fput (iommufd_test_access_pages,
 * drivers/iommu/iommufd/selftest.c; reached by IOMMU_TEST_OP_ACCESS_PAGES
 * on a selftest access created WITHOUT MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
 * i.e. an access that may only use ACCESS_RW; 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     staccess = iommufd_access_get(access_id);      // fget(fd)
 *     if (IS_ERR(staccess))
 *             return PTR_ERR(staccess);
 *
 *     if (staccess->access->ops != &selftest_access_ops_pin) {
 *             rc = -EOPNOTSUPP;
 *             goto out_put;
 *     }
 *     ...
 * out_put:
 *     fput(staccess->file);
 *     return rc;
 *
 * The fault: the ops test returns directly, as the two argument checks
 * above iommufd_access_get do (they run before the fget and may return):
 *
 *     if (staccess->access->ops != &selftest_access_ops_pin)
 *             return -EOPNOTSUPP;
 *
 * so the reference iommufd_access_get took on the access file is leaked.
 *
 * Observable: the answer is still EOPNOTSUPP, but the access file now has
 * an extra reference. Closing the access fd no longer runs
 * iommufd_test_staccess_release: the access is never destroyed and stays
 * attached to its IOAS (IOMMU_DESTROY of that IOAS answers EBUSY forever),
 * and it keeps its iommufd_ctx_get on the iommufd file, so closing the
 * iommufd fd does not release the context either: its IOASes, mappings,
 * pinned pages and their locked_vm charge outlive both fds.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES on a non-pinning access answers
 * EOPNOTSUPP keeping the file reference; every other call is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import type { IoctlExecute, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { accessGet } from './_access_pages.ts';
import { mutantImplementation } from '../harness.ts';

const SZ_16M = 16n * 1024n * 1024n;

/** iommufd_test_access_pages with THE FAULT on its non-pinning-access exit; the rest is the reference's. */
function accessPages(ucmd: Ucmd, original: IoctlExecute): number {
  const { cmd } = ucmd;
  if (cmd.big('access_pages.length') > SZ_16M) return -ENOMEM;
  if (cmd.num('access_pages.flags') & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const g = accessGet(ucmd, cmd.num('id'));
  if (g.errno) return g.errno;
  if (!g.staccess!.needsPin) return -EOPNOTSUPP; // THE FAULT: no fput(staccess->file)
  g.file!.put();
  return original(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pages-eopnotsupp-no-fput', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? accessPages(ucmd, original) : original(ucmd)),
    },
  });
}
