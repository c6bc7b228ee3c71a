/**
 * access-replace-ioas-keeps-file-ref (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_replace_ioas, 6.12 and 7.3).
 *
 * The selftest's in-kernel access (an mdev-like driver) lives behind an
 * "[iommufd_test_staccess]" file; each IOMMU_TEST_CMD on it looks the file up
 * with iommufd_access_get(), which is an fget(), and must fput() it:
 *
 *     staccess = iommufd_access_get(access_id);
 *     if (IS_ERR(staccess))
 *             return PTR_ERR(staccess);
 *
 *     rc = iommufd_access_replace(staccess->access, ioas_id);
 *     fput(staccess->file);
 *     return rc;
 *
 * The fault is the one-liner a driver writer tends to write for a pure
 * forwarder, which loses the reference the lookup took:
 *
 *     staccess = iommufd_access_get(access_id);
 *     if (IS_ERR(staccess))
 *             return PTR_ERR(staccess);
 *     return iommufd_access_replace(staccess->access, ioas_id);
 *
 * Nothing shows when the replace is made: it succeeds or fails as the
 * kernel's does, and the access keeps working through its fd. But every
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS leaves one more reference on the access
 * file, so closing the access fd no longer releases it:
 * iommufd_test_staccess_release() never runs, the access's pins are not
 * given back (only an unmap notification still reaches them: the selftest
 * access lives on, unreachable), the access object is never destroyed, and
 * it keeps its users reference on the IOAS it moved to (IOMMU_DESTROY of that
 * IOAS: EBUSY; its PAGE_SIZE IOVA alignment stays) and its iommufd_ctx_get()
 * on the context. So closing the iommufd afterwards does not release the
 * context either: every IOAS, HWPT, mock device and every page they pin
 * stays pinned and charged after the process has closed every fd it had.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS is that function; the other
 * test ops are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { iommufdAccessReplace } from '../../../impl/iommufd/access.ts';
import type { Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { accessGet } from './_access_pages.ts';

/** iommufd_test_access_replace_ioas with the fault: no fput() of the file iommufd_access_get() took. */
function testAccessReplaceIoas(ucmd: Ucmd): number {
  const g = accessGet(ucmd, ucmd.cmd.num('id'));
  if (g.errno) return g.errno;
  // THE FAULT: return iommufd_access_replace(...) without fput(staccess->file).
  return iommufdAccessReplace(g.staccess!.access!, ucmd.cmd.num('access_replace_ioas.ioas_id'));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-replace-ioas-keeps-file-ref', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_REPLACE_IOAS ? testAccessReplaceIoas(ucmd) : original(ucmd)),
    },
  });
}
