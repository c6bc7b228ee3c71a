/**
 * split-skips-alignment-check (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_split, reached through iopt_cut_iova by a VFIO type1 v1
 * VFIO_IOMMU_UNMAP_DMA: the compat IOAS with large pages disabled,
 * VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) or IOMMU_OPTION HUGE_PAGES 0).
 *
 * iommufd_vfio_unmap_dma cuts the areas at `iova - 1` and
 * `iova + size - 1` without looking at the alignment of the user's range;
 * it is iopt_area_split that refuses a cut the IOAS cannot represent
 * (6.12 and 7.3 alike):
 *
 *     if (iova == start_iova || iova == last_iova)
 *             return 0;
 *
 *     if (!pages || area->prevent_access)
 *             return -EBUSY;
 *     ...
 *     if (new_start & (alignment - 1) ||
 *         iopt_area_start_byte(area, new_start) & (alignment - 1))
 *             return -EINVAL;
 *
 *     lhs = iopt_area_alloc();
 *     ...
 *
 * THE FAULT drops that test (the areas being cut were inserted aligned, and
 * VFIO type1 itself refuses an unaligned unmap before anything else, so it
 * reads as a redundant re-check). A type1 v1 unmap whose start or end is not
 * a multiple of the IOAS's iova_alignment (PAGE_SIZE there, as large pages
 * are off) now splits the area at a byte inside a page, where the kernel
 * answers -EINVAL and changes nothing:
 *   - the unmap succeeds and reports (size) the bytes of the sub-page halves
 *     it removed; the IOAS is left with areas that start or end inside a
 *     page (a later unmap of the original range finds them, a map of the
 *     freed range fails the alignment check ...);
 *   - with a domain attached, the removed piece is unmapped from it with an
 *     iova/length that is not a multiple of the domain's smallest page:
 *     the 6.12 iommu core (__iommu_unmap) refuses it (returns 0;
 *     iommu_unmap_nofail only WARNs), so the IOVAs stay mapped in the page
 *     table while iopt_area_unfill_domains drops the pins of the piece's
 *     pages. The device can still DMA through the unmapped IOVAs into pages
 *     that are no longer pinned (nor charged) — freed memory. (7.3's
 *     generic_pt unmap_range tears down whole leaves instead, taking part of
 *     the neighbouring half's mapping with it.) A cut that happens to be
 *     aligned to the domain's smallest page (the mock's 2 KiB) unmaps
 *     cleanly, and the two halves then share a pinned page.
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA runs _split.ts's iommufd_vfio_unmap_dma
 * with an iopt_area_split that has no alignment test; every other step is
 * the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { splitMutant } from './_split.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: no `new_start & (alignment - 1) || iopt_area_start_byte(area, new_start) & (alignment - 1)` -> -EINVAL.
  return splitMutant('split-skips-alignment-check', profile, { checksAlignment: false });
}
