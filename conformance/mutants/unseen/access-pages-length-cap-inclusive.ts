/**
 * access-pages-length-cap-inclusive
 *
 * Kernel: iommufd_test_access_pages (drivers/iommu/iommufd/selftest.c). The
 * correct guard:
 *
 *     // Prevent syzkaller from triggering a WARN_ON in kvzalloc()
 *     if (length > 16 * 1024 * 1024)
 *             return -ENOMEM;
 *
 * The fault writes `length >= 16 * 1024 * 1024` (an off-by-one on the cap, as
 * if the limit were exclusive). A pin of exactly 16 MiB through a
 * NEEDS_PIN_PAGES access fails with ENOMEM, nothing pinned and no item
 * created, where the kernel pins the 4096 pages and returns an item id.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOMEM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

const SZ_16M = 16n * 1024n * 1024n;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pages-length-cap-inclusive', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        // FAULT: `>=` where the kernel tests `>`; every other length takes the reference's path.
        if (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES && ucmd.cmd.big('access_pages.length') >= SZ_16M) return -ENOMEM;
        return original(ucmd);
      },
    },
  });
}
