/**
 * Round 38 fault D1 (selftest, MD_CHECK_REFS): iommufd_test_md_check_refs
 * (drivers/iommu/iommufd/selftest.c) loses the wrap check of its user range:
 *
 *     if (length % PAGE_SIZE || (uintptr_t)uptr % PAGE_SIZE ||
 *         check_add_overflow((uintptr_t)uptr, (uintptr_t)length, &end))
 *             return -EINVAL;
 *
 * becomes
 *
 *     if (length % PAGE_SIZE || (uintptr_t)uptr % PAGE_SIZE)
 *             return -EINVAL;
 *
 * What a user sees: IOMMU_TEST_OP_MD_CHECK_REFS over a page-aligned range
 * that wraps the address space (uptr = 0xfffffffffffff000, length 0x2000)
 * is no longer refused with EINVAL: the walk goes on and get_user_pages_fast
 * of the top page fails, so the answer is EFAULT (or EIO where the wrapped
 * part is mapped with another pin count).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MD_CHECK_REFS } from '../../../spec/uapi/constants.ts';
import { EFAULT, EINVAL, EIO } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

const P = BigInt(PAGE_SIZE);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-refs-overflow-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_MD_CHECK_REFS) return original(ucmd);
        let uptr = cmd.big('check_refs.uptr');
        let length = cmd.big('check_refs.length');
        const refs = cmd.num('check_refs.refs');
        if (length % P || uptr % P) return -EINVAL; // the check_add_overflow is gone
        for (; length; length -= P) {
          const t = ctx.proc.translateVa(uptr);
          if (!t || !t.prot.read) return -EFAULT;
          if (ctx.proc.pinCountOfPfn(t.pfn) !== refs) return -EIO;
          uptr = (uptr + P) & ULONG_MAX; // uintptr_t arithmetic wraps
        }
        return 0;
      },
    },
  });
}
