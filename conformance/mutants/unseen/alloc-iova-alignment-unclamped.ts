/**
 * alloc-iova-alignment-unclamped (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_iova).
 *
 * For an IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without IOMMU_IOAS_MAP_FIXED_IOVA
 * the kernel keeps the alignment present in the user address (or, for
 * user_va 0, the length rounded up to a power of two), but never asks for
 * more than HPAGE_SIZE (PAGE_SIZE without THP):
 *
 *     if (!addr)
 *             iova_alignment = roundup_pow_of_two(length);
 *     else
 *             iova_alignment = min_t(unsigned long,
 *                                    roundup_pow_of_two(length),
 *                                    1UL << __ffs64(addr));
 *
 *     #ifdef CONFIG_TRANSPARENT_HUGEPAGE
 *             max_alignment = HPAGE_SIZE;
 *     #endif
 *     /- Protect against ALIGN() overflow -/
 *     if (iova_alignment >= max_alignment)
 *             iova_alignment = max_alignment;
 *
 * THE FAULT: the clamp is lost (the two lines dropped when the THP #ifdef
 * was reworked), so a large map whose length and user address are both
 * aligned beyond 2 MiB demands that whole alignment of its IOVA: a 4 MiB
 * map from a 4 MiB-aligned address (or from user_va 0) wants a 4 MiB-aligned
 * IOVA, a 1 GiB one a 1 GiB-aligned IOVA.
 *
 * What a user sees: an automatic-IOVA map that fits a free, 2 MiB-aligned
 * hole of the allowed ranges fails with ENOSPC when no hole of the larger
 * alignment exists (e.g. IOMMU_IOAS_ALLOW_IOVAS [2 MiB, 6 MiB - 1], then a
 * 4 MiB map of user_va 0: the kernel places it at 2 MiB); where it
 * succeeds the IOVA lands further up than the kernel's first fit, wasting
 * IOVA space. Fixed-IOVA maps and VFIO_IOMMU_MAP_DMA are unaffected.
 *
 * Applied as: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY through the shared copy of
 * the map path (_map.ts) whose iopt_alloc_iova demands the unclamped
 * alignment.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

/** The alignment the faulty iopt_alloc_iova demands (0: -EINVAL). */
function unclampedAlignment(iopt: IoPagetable, uptr: bigint, length: bigint): bigint {
  let p = 1n;
  while (p < length) p <<= 1n;
  const low = uptr & -uptr;
  const alignment = uptr === 0n ? p : p < low ? p : low;
  // THE FAULT: no `if (iova_alignment >= max_alignment) iova_alignment = max_alignment;`
  return alignment < BigInt(iopt.iovaAlignment) ? 0n : alignment;
}

const mapPages = mapPagesWith({ allocIova: allocIovaWith({ alignment: unclampedAlignment }) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-iova-alignment-unclamped', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
