/**
 * alloc-iova-null-addr-alignment (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_iova; reached by every automatic-IOVA IOMMU_IOAS_MAP and
 * IOMMU_IOAS_COPY through iopt_alloc_area_pages).
 *
 * The kernel (6.12 and 7.3 alike):
 *
 *     static int iopt_alloc_iova(struct io_pagetable *iopt, unsigned long *iova,
 *                                unsigned long addr, unsigned long length)
 *     {
 *             ...
 *             // Keep alignment present in addr when building the IOVA, which
 *             // increases the chance we can map a THP.
 *             if (!addr)
 *                     iova_alignment = roundup_pow_of_two(length);
 *             else
 *                     iova_alignment = min_t(unsigned long,
 *                                            roundup_pow_of_two(length),
 *                                            1UL << __ffs64(addr));
 *             ...
 *             if (iova_alignment < iopt->iova_alignment)
 *                     return -EINVAL;
 *
 * The fault drops the `!addr` special case ("addr is never NULL, it is a user
 * pointer") and always takes the min_t branch. __ffs64(0) is undefined; on
 * x86-64 it compiles to TZCNT, which yields 64, and the shift count is masked
 * to 6 bits, so `1UL << __ffs64(0)` is 1: a user address of 0 asks for byte
 * alignment instead of roundup_pow_of_two(length).
 *
 * Observable (only for user_va == 0, which a normal caller never passes):
 *   - an IOAS whose iova_alignment is above 1 (a domain attached: PAGE_SIZE;
 *     IOMMU_OPTION_HUGE_PAGES set to 0; an access with a larger alignment)
 *     refuses an automatic IOMMU_IOAS_MAP of user_va 0 with -EINVAL where the
 *     kernel places it (and then pins, -EFAULT if nothing is mapped at 0);
 *   - with iova_alignment 1 (no domain) the IOVA is placed with no
 *     power-of-two alignment: a 0x3000-byte map lands at 0x1000 where the
 *     kernel puts it at 0x4000.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { copyHandler } from './_copy.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';

/** HPAGE_SIZE (x86-64, THP): iopt_alloc_iova's max_alignment. */
const HPAGE_SIZE = 2n * 1024n * 1024n;

function roundupPowOfTwo(n: bigint): bigint {
  let p = 1n;
  while (p < n) p <<= 1n;
  return p;
}

/** 1UL << __ffs64(addr) on x86-64: TZCNT(0) = 64, shift count masked to 0 -> 1. */
function ffsShift(addr: bigint): bigint {
  if (addr === 0n) return 1n;
  return addr & -addr;
}

/** iopt_alloc_iova's alignment with the `!addr` branch dropped (0: -EINVAL). */
function alignment(iopt: IoPagetable, uptr: bigint, length: bigint): bigint {
  if (length === 0n || length >= ULONG_MAX / 2n) return 0n;
  // THE FAULT: `if (!addr) iova_alignment = roundup_pow_of_two(length); else` dropped.
  const r = roundupPowOfTwo(length);
  const f = ffsShift(uptr);
  let a = r < f ? r : f;
  if (a >= HPAGE_SIZE) a = HPAGE_SIZE;
  return a < BigInt(iopt.iovaAlignment) ? 0n : a;
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ allocIova: allocIovaWith({ alignment }) });
  return mutantImplementation('alloc-iova-null-addr-alignment', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
