/**
 * alloc-area-pages-iova-not-advanced (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_area_pages, called by iopt_map_pages; 6.12 and 7.3).
 *
 * iopt_map_pages takes a list of iopt_pages_list elements and lays them out
 * back to back from *dst_iova. IOMMU_IOAS_MAP (and VFIO_IOMMU_MAP_DMA) pass a
 * single element; IOMMU_IOAS_COPY passes one element per source area that
 * iopt_get_pages found under [src_iova, src_iova + length), so a copy over
 * two adjacent source mappings makes two areas in the destination. The
 * kernel, after checking (or allocating) the whole [dst_iova, dst_iova +
 * length):
 *
 *     iova = *dst_iova;
 *     list_for_each_entry(elm, pages_list, next) {
 *             rc = iopt_insert_area(iopt, elm->area, elm->pages, iova,
 *                                   elm->start_byte, elm->length,
 *                                   iommu_prot);
 *             if (rc)
 *                     goto out_unlock;
 *             iova += elm->length;
 *     }
 *
 * THE FAULT: `iova += elm->length;` is lost (the loop was reworked to
 * `list_for_each_entry` from an indexed loop whose increment carried it).
 * Every element is inserted at *dst_iova: interval_tree_insert does not
 * refuse overlapping nodes, so the areas of one copy pile up on the same
 * IOVA.
 *
 * Nothing shows for a single-element list (every MAP, a copy out of one
 * source area). A copy that spans two source areas (two earlier
 * IOMMU_IOAS_MAPs side by side) then:
 *   - into an IOAS with a domain: the second area's iommu_map lands on the
 *     first one's IOVAs and fails (EEXIST / EADDRINUSE from the page table);
 *     the copy fails and is unwound, where the kernel succeeds;
 *   - into an IOAS without a domain: succeeds, but [dst + len1, dst + len)
 *     holds no area: DMA there faults once a device attaches — if it can:
 *     attaching fills the overlapping areas and fails; IOMMU_IOAS_UNMAP of
 *     the copied range stops at the overlapping second area (ENOENT after
 *     removing the first) and unmap-all / IOAS destruction can never remove
 *     it; the hole is handed out again to later MAPs (the kernel: EEXIST),
 *     and an access pinning across the boundary gets ENOENT.
 *
 * Applied as: IOMMU_IOAS_COPY through a copy of iommufd_ioas_copy (_copy.ts)
 * whose iopt_map_pages is _map.ts's with the insert loop not advancing. The
 * area tree keeps nodes of equal start in insertion order (the rb-tree
 * inserts an equal key to the right).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-area-pages-iova-not-advanced', profile, {
    // THE FAULT: iopt_alloc_area_pages' `iova += elm->length;` is missing: every element goes in at *dst_iova.
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages: mapPagesWith({ advancesIova: false }) }) },
  });
}
