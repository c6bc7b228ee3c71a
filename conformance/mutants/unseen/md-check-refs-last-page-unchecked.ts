/**
 * md-check-refs-last-page-unchecked (iommufd_test_md_check_refs,
 * drivers/iommu/iommufd/selftest.c; IOMMU_TEST_CMD op
 * IOMMU_TEST_OP_MD_CHECK_REFS; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     if (length % PAGE_SIZE || (uintptr_t)uptr % PAGE_SIZE ||
 *         check_add_overflow((uintptr_t)uptr, (uintptr_t)length, &end))
 *             return -EINVAL;
 *
 *     for (; length; length -= PAGE_SIZE) {
 *             ...get_user_pages_fast(uptr, 1, 0, pages)...
 *             if (count / GUP_PIN_COUNTING_BIAS != refs) { ...; return -EIO; }
 *             ...
 *             uptr += PAGE_SIZE;
 *     }
 *
 * The fault: the loop bound is off by one page,
 * `for (; length > PAGE_SIZE; length -= PAGE_SIZE)`, so the last page of
 * the range is never looked at: a one-page check always answers 0, and a
 * wrong pin count (or an unreadable page) on the last page of a longer range
 * is not reported (0 instead of EIO / EFAULT).
 *
 * Applied as: after the kernel's argument checks, the reference's
 * MD_CHECK_REFS over the range shortened by one page.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MD_CHECK_REFS } from '../../../spec/uapi/constants.ts';
import { PAGE_SIZE, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

const P = BigInt(PAGE_SIZE);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-refs-last-page-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_MD_CHECK_REFS) return original(ucmd);
        const uptr = cmd.big('check_refs.uptr');
        const length = cmd.big('check_refs.length');
        if (length % P || uptr % P || uptr + length > ULONG_MAX || length < P) return original(ucmd);
        // THE FAULT: the last page is not checked.
        cmd.set('check_refs.length', length - P);
        try {
          return original(ucmd);
        } finally {
          cmd.set('check_refs.length', length);
        }
      },
    },
  });
}
