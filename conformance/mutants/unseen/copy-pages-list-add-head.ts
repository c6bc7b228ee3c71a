/**
 * copy-pages-list-add-head (drivers/iommu/iommufd/io_pagetable.c
 * iopt_get_pages, reached by IOMMU_IOAS_COPY whose source range spans
 * several areas).
 *
 * The kernel (6.12 and 7.3 alike) appends one iopt_pages_list element per
 * source area, in IOVA order, and iopt_alloc_area_pages later lays the
 * elements out back to back from the destination IOVA in list order:
 *
 *     iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
 *             struct iopt_pages_list *elm;
 *             unsigned long last = min(last_iova, iopt_area_last_iova(area));
 *
 *             elm = kzalloc(sizeof(*elm), GFP_KERNEL_ACCOUNT);
 *             ...
 *             elm->start_byte = iopt_area_start_byte(area, iter.cur_iova);
 *             elm->pages = area->pages;
 *             elm->length = (last - iter.cur_iova) + 1;
 *             kref_get(&elm->pages->kref);
 *             list_add_tail(&elm->next, pages_list);
 *     }
 *
 * THE FAULT: `list_add(&elm->next, pages_list)` — the classic list_add vs
 * list_add_tail slip. With one source area (the common copy) nothing
 * changes. With a source range covering two or more contiguous areas the
 * pieces are laid out in reverse: the destination IOVA that should hold the
 * first source area's bytes holds the last one's, and so on (the lengths
 * shift too when the pieces differ in size); the automatic IOVA's alignment
 * is also guessed from the wrong element. The copy succeeds, so a device
 * attached to the destination DMAs to/from user pages other than the ones
 * the source IOVA maps — the destination is not an image of the source.
 *
 * Applied as: IOMMU_IOAS_COPY is _copy.ts's copy of iommufd_ioas_copy over
 * a copy of iopt_get_pages with the one changed line.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { getPagesWith } from './_get_pages.ts';

export function createAdapter(profile: Profile): Implementation {
  const getPages = getPagesWith({
    // THE FAULT: list_add(&elm->next, pages_list) instead of list_add_tail.
    add: (list, elm) => list.unshift(elm),
  });
  return mutantImplementation('copy-pages-list-add-head', profile, { handlers: { IOMMU_IOAS_COPY: copyHandler({ getPages }) } });
}
