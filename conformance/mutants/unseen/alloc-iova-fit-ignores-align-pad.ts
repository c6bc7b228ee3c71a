/**
 * Round 7a fault (drivers/iommu/iommufd/io_pagetable.c
 * __alloc_iova_check_range, used by iopt_alloc_iova for the allowed spans
 * and for every hole of the reserved ∪ area trees).
 *
 *     aligned_start = ALIGN_UP(*start, iova_alignment) | page_offset;
 *     if (aligned_start >= last || last - aligned_start < length - 1)
 *             return false;
 *     *start = aligned_start;
 *
 * The fault measures the fit from the hole's own start instead of the
 * aligned one (`last - *start < length - 1`), forgetting the padding the
 * alignment adds. A hole that is long enough but not once aligned is
 * accepted, and the IOVA returned is aligned_start: the new area runs past
 * the end of the hole by up to iova_alignment - 1 bytes, into the next used
 * span — an existing area (two areas, and two IOPTEs wanted, for the same
 * IOVA: the later map silently shadows or is shadowed), or a reserved range
 * (a device's MSI window or a range outside the domain aperture), or past
 * the end of an allowed range user space set with IOMMU_IOAS_ALLOW_IOVAS.
 *
 * Applied as: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY are copies of
 * iommufd_ioas_map / _copy → iopt_map_pages → iopt_alloc_area_pages →
 * iopt_alloc_iova with the one changed comparison.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';

/** __alloc_iova_check_range with the fault. */
function allocIovaCheckRange(start: bigint, last: bigint, length: bigint, alignment: bigint, pageOffset: bigint): bigint | undefined {
  if (start + alignment - 1n > ULONG_MAX) return undefined;
  let aligned = (start + alignment - 1n) & ~(alignment - 1n);
  aligned |= pageOffset;
  // THE FAULT: `last - start` (the hole's start), not `last - aligned_start`.
  if (aligned >= last || last - start < length - 1n) return undefined;
  return aligned;
}

/** iopt_map_pages over iopt_alloc_iova with the faulty check. */
const mapPages = mapPagesWith({ allocIova: allocIovaWith({ checkRange: allocIovaCheckRange }) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-iova-fit-ignores-align-pad', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
