/**
 * access-pages-flags-mask-from-rw (iommufd_test_access_pages,
 * drivers/iommu/iommufd/selftest.c; IOMMU_TEST_CMD op
 * IOMMU_TEST_OP_ACCESS_PAGES with MOCK_ACCESS_RW_SLOW_PATH (1 << 2) in
 * access_pages.flags; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ))
 *             return -EOPNOTSUPP;
 *
 * while its sibling iommufd_test_access_rw accepts
 *
 *     if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH |
 *                   MOCK_FLAGS_ACCESS_SYZ))
 *             return -EOPNOTSUPP;
 *
 * The fault: the flag mask of ACCESS_PAGES is copied from ACCESS_RW's (the
 * WRITE bits are the same value, 1 << 0, which hides the paste), so the
 * meaningless SLOW_PATH bit is accepted: ACCESS_PAGES with flags 4 pins the
 * range, records an item and answers 0 (with an out_access_pages_id) where
 * the kernel answers EOPNOTSUPP and pins nothing. The pin is visible in
 * MD_CHECK_REFS, in pinned-page accounting, and in the access's unmap
 * notifications.
 *
 * Applied as: the bit is cleared around the reference's ACCESS_PAGES and
 * restored in the struct copied back to the caller.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_ACCESS_RW_SLOW_PATH, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pages-flags-mask-from-rw', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_PAGES) return original(ucmd);
        const flags = cmd.num('access_pages.flags');
        if (!(flags & MOCK_ACCESS_RW_SLOW_PATH)) return original(ucmd);
        // THE FAULT: the mask is ACCESS_RW's: SLOW_PATH passes; still reject bits outside it.
        if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return original(ucmd);
        cmd.set('access_pages.flags', flags & ~MOCK_ACCESS_RW_SLOW_PATH);
        const rc = original(ucmd);
        cmd.set('access_pages.flags', flags);
        if (rc) return rc;
        // iommufd_ucmd_respond copied the struct with the kernel's flags unchanged.
        return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('access_pages.flags')), cmd.fieldBytes('access_pages.flags')) ? 0 : -EFAULT;
      },
    },
  });
}
