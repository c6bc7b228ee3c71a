/**
 * unmap-head-check-missing (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP: iommufd_ioas_unmap →
 * iopt_unmap_iova → iopt_unmap_iova_range). 6.12 and 7.3 alike.
 *
 * iommufd never splits an area on unmap: an area that sticks out of the
 * requested range on either side stops the walk with -ENOENT:
 *
 *     if (area_first < start || area_last > last) {
 *             rc = -ENOENT;
 *             goto out_unlock_iova;
 *     }
 *
 * THE FAULT: the head term `area_first < start` is lost (only the tail is
 * checked). iopt_area_iter_first(iopt, start, last) returns an area that
 * merely intersects the range, so an UNMAP whose iova falls inside an area
 * (not at its first byte) and whose end covers the area's end now removes
 * the whole area, including the bytes below `iova` that the user asked to
 * keep, and reports them in `length`. What a user sees: IOMMU_IOAS_UNMAP of
 * [area_start + 4K, area_last] succeeds (length = the whole area) where the
 * kernel answers ENOENT and leaves the mapping; the head of the mapping is
 * gone from the IOAS and from every attached domain (DMA there faults).
 *
 * Applied as: the shared IOMMU_IOAS_UNMAP handler (_unmap.ts) over its copy
 * of iopt_unmap_iova_range with the one term lost; the unmap-all
 * form (0, U64_MAX) walks from 0 and is unaffected. VFIO type1 compat unmap
 * (vfio_compat.c) keeps the reference's walk.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { ioasUnmapWith, type RangeUnmap, unmapRange } from './_unmap.ts';

// THE FAULT: `if (area_first < start || area_last > last)` lost its first half.
const walk: RangeUnmap = (iopt, start, last, unmapped) =>
  unmapRange(iopt, start, last, unmapped, ioptAreaUnfillDomains, (_areaFirst, areaLast, _start, rangeLast) => areaLast > rangeLast);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-head-check-missing', profile, { handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(walk) } });
}
