/**
 * split-large-page-guard-inverted (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_split, reached from iommufd_vfio_unmap_dma → iopt_cut_iova on
 * a VFIO type1 (v1) container).
 *
 * VFIO type1 v1 lets user space unmap part of a mapping. iommufd emulates it
 * by disabling large pages on the compat IOAS (VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU)
 * → iopt_disable_large_pages), so that every domain holds the IOAS's areas in
 * PAGE_SIZE IOPTEs, and VFIO_IOMMU_UNMAP_DMA first cuts the areas at both
 * ends of the range (iopt_cut_iova → iopt_area_split) before unmapping the
 * whole areas inside it. The split must refuse only an area a domain could
 * hold with large IOPTEs, i.e. one that is in a domain while large pages are
 * enabled:
 *
 *     /*
 *      * Splitting is not permitted if a domain could have been mapped with
 *      * huge pages.
 *      *\/
 *     if (area->storage_domain && !iopt->disable_large_pages) {
 *             rc = -EINVAL;
 *             goto err_unlock;
 *     }
 *
 * The fault loses the negation — a double negative ("disable" … "not
 * permitted") read the other way round:
 *
 *     if (area->storage_domain && iopt->disable_large_pages) {
 *
 * The caller only cuts when disable_large_pages is set, so the test now
 * refuses exactly the areas the emulation exists for: every area that is in
 * a domain.
 *
 * Nothing changes for a v1 container without devices, for unmaps of whole
 * mappings, or for type1v2. Once a device is attached to the compat IOAS (its
 * domain filled every area), every VFIO_IOMMU_UNMAP_DMA that starts or ends
 * inside a mapping fails with EINVAL and leaves the mapping in place (the
 * first cut already fails, or the second does after the first cut an area
 * that is then never unmapped): the user's memory stays mapped and pinned
 * for the device although VFIO type1 v1 promises the hole, and a v1 user
 * space (a VMM that balloons guest memory out page by page) cannot give
 * memory back — the range stays DMA-reachable until the whole mapping goes.
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA on the iommufd through _split.ts's copy of the
 * reference's iommufd_vfio_unmap_dma whose iopt_area_split has the guard
 * inverted.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { splitMutant } from './_split.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: `area->storage_domain && !iopt->disable_large_pages` lost its negation.
  return splitMutant('split-large-page-guard-inverted', profile, { refusesFilled: (iopt) => iopt.disableLargePages });
}
