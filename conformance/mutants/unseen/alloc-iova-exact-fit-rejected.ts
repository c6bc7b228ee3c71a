/**
 * alloc-iova-exact-fit-rejected (drivers/iommu/iommufd/io_pagetable.c
 * __alloc_iova_check_range, used by iopt_alloc_iova for both the allowed
 * spans (__alloc_iova_check_used) and the holes between reserved ranges and
 * areas (__alloc_iova_check_hole); reached by every automatic-IOVA
 * IOMMU_IOAS_MAP and IOMMU_IOAS_COPY).
 *
 * The kernel (6.12 and 7.3 alike):
 *
 *     static bool __alloc_iova_check_range(unsigned long *start, unsigned long last,
 *                                          unsigned long length,
 *                                          unsigned long iova_alignment,
 *                                          unsigned long page_offset)
 *     {
 *             unsigned long aligned_start;
 *
 *             // ALIGN_UP()
 *             if (check_add_overflow(*start, iova_alignment - 1, &aligned_start))
 *                     return false;
 *             aligned_start &= ~(iova_alignment - 1);
 *             aligned_start |= page_offset;
 *
 *             if (aligned_start >= last || last - aligned_start < length - 1)
 *                     return false;
 *             *start = aligned_start;
 *             return true;
 *     }
 *
 * `last` is inclusive, so a range [aligned_start, last] holds
 * last - aligned_start + 1 bytes. The fault drops the `- 1`
 * (`last - aligned_start < length`): the classic last-versus-end slip, which
 * refuses every span or hole that is *exactly* the length asked for (after
 * alignment). Larger ones are unaffected, so the common case of a big empty
 * IOAS never notices.
 *
 * Observable: an automatic IOMMU_IOAS_MAP / IOMMU_IOAS_COPY whose only
 * fitting place is an exact fit — an allowed range (IOMMU_IOAS_ALLOW_IOVAS)
 * of exactly the mapping's size, or a gap between two areas / a reserved
 * range and an area of exactly that size — fails with -ENOSPC (or is placed
 * at a later, larger hole) where the kernel maps it there.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { copyHandler } from './_copy.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';

/** __alloc_iova_check_range with the exclusive-length comparison. */
function checkRange(start: bigint, last: bigint, length: bigint, alignment: bigint, pageOffset: bigint): bigint | undefined {
  if (start + alignment - 1n > ULONG_MAX) return undefined;
  let aligned = (start + alignment - 1n) & ~(alignment - 1n);
  aligned |= pageOffset;
  // THE FAULT: `last - aligned_start < length - 1`
  if (aligned >= last || last - aligned < length) return undefined;
  return aligned;
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ allocIova: allocIovaWith({ checkRange }) });
  return mutantImplementation('alloc-iova-exact-fit-rejected', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
