/**
 * md-check-refs-length-unaligned-unchecked (drivers/iommu/iommufd/selftest.c
 * iommufd_test_md_check_refs; reached by IOMMU_TEST_CMD
 * IOMMU_TEST_OP_MD_CHECK_REFS; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     if (length % PAGE_SIZE || (uintptr_t)uptr % PAGE_SIZE ||
 *         check_add_overflow((uintptr_t)uptr, (uintptr_t)length, &end))
 *             return -EINVAL;
 *
 *     for (; length; length -= PAGE_SIZE) {
 *             ... get_user_pages_fast(uptr, 1, 0, pages) ...
 *             if (count / GUP_PIN_COUNTING_BIAS != refs) return -EIO;
 *             ...
 *             uptr += PAGE_SIZE;
 *     }
 *
 * THE FAULT: the `length % PAGE_SIZE ||` term is lost from the check, so an
 * unaligned length is accepted; the size_t `length -= PAGE_SIZE` then steps
 * past zero and wraps, and the loop walks on page after page past the end of
 * the requested range until a page has the wrong pin count (EIO) or is not
 * mapped/readable (the GUP's EFAULT).
 *
 * Observable: MD_CHECK_REFS with a length that is not a multiple of
 * PAGE_SIZE answers EIO or EFAULT (or checks pages the caller never named)
 * where the kernel answers EINVAL.
 *
 * Applied as: IOMMU_TEST_OP_MD_CHECK_REFS runs a copy of
 * iommufd_test_md_check_refs without the length test; other ops are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_MD_CHECK_REFS } from '../../../spec/uapi/constants.ts';
import { EFAULT, EINVAL, EIO } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';

const P = BigInt(PAGE_SIZE);

function faultyCheckRefs(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let uptr = cmd.big('check_refs.uptr');
  let length = cmd.big('check_refs.length');
  const refs = cmd.num('check_refs.refs');
  // THE FAULT: no `length % PAGE_SIZE` term.
  if (uptr % P || uptr + length > ULONG_MAX) return -EINVAL;
  for (; length; length = BigInt.asUintN(64, length - P)) {
    const t = ctx.proc.translateVa(BigInt.asUintN(64, uptr));
    if (!t || !t.prot.read) return -EFAULT;
    if (ctx.proc.pinCountOfPfn(t.pfn) !== refs) return -EIO;
    uptr += P;
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-refs-length-unaligned-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_MD_CHECK_REFS ? faultyCheckRefs(ucmd) : original(ucmd)),
    },
  });
}
