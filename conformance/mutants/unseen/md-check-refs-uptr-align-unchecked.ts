/**
 * md-check-refs-uptr-align-unchecked
 *
 * Kernel: iommufd_test_md_check_refs (drivers/iommu/iommufd/selftest.c). The
 * correct argument check:
 *
 *     if (length % PAGE_SIZE || (uintptr_t)uptr % PAGE_SIZE ||
 *         check_add_overflow((uintptr_t)uptr, (uintptr_t)length, &end))
 *             return -EINVAL;
 *
 * The fault drops the `(uintptr_t)uptr % PAGE_SIZE` term (a check lost when
 * the line was rewrapped for the overflow test). An unaligned uptr is then
 * walked page by page: get_user_pages_fast() takes the page holding each
 * unaligned address, so the op answers 0 or EIO (or EFAULT) where the kernel
 * deterministically answers EINVAL.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, EIO } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_MD_CHECK_REFS } from '../../../spec/uapi/constants.ts';
import { PAGE_SIZE, ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

const P = BigInt(PAGE_SIZE);

/** iommufd_test_md_check_refs without the uptr alignment test. */
function mdCheckRefs(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let uptr = cmd.big('check_refs.uptr');
  let length = cmd.big('check_refs.length');
  const refs = cmd.num('check_refs.refs');
  if (length % P || uptr + length > ULONG_MAX) return -EINVAL; // FAULT: no uptr % PAGE_SIZE
  for (; length; length -= P) {
    const t = ctx.proc.translateVa(uptr);
    if (!t || !t.prot.read) return -EFAULT;
    if (ctx.proc.pinCountOfPfn(t.pfn) !== refs) return -EIO;
    uptr += P;
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-refs-uptr-align-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_MD_CHECK_REFS ? mdCheckRefs(ucmd) : original(ucmd)),
    },
  });
}
