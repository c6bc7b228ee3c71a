/**
 * copy-piece-length-unclamped (drivers/iommu/iommufd/io_pagetable.c
 * iopt_get_pages, reached from iommufd_ioas_copy).
 *
 * IOMMU_IOAS_COPY gathers the source range [src_iova, src_iova + length - 1]
 * as one iopt_pages_list element per source area it crosses; each element
 * becomes one destination area. An element must stop where the requested
 * range stops, so the piece of the last area is clamped to last_iova:
 *
 *     iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
 *             unsigned long last = min(last_iova, iopt_area_last_iova(area));
 *             ...
 *             elm->start_byte = iopt_area_start_byte(area, iter.cur_iova);
 *             elm->pages = area->pages;
 *             elm->length = (last - iter.cur_iova) + 1;
 *
 * The fault loses the clamp (the min() went when `last` was folded into the
 * length computation): every element runs to the end of its source area,
 *
 *             elm->length = (iopt_area_last_iova(area) - iter.cur_iova) + 1;
 *
 * The total the copy checks and allocates is still the user's `length`
 * (iopt_alloc_area_pages: alignment, iopt_check_iova / iopt_alloc_iova over
 * [dst_iova, dst_iova + length - 1]), but iopt_insert_area then inserts
 * areas as long as the elements, so a COPY of part of a source area makes a
 * destination area that runs on past dst_iova + length - 1, over IOVA that
 * was never checked: into a reserved range (another device's MSI window, the
 * space outside a domain aperture) or over a neighbouring area.
 *
 * Consequence for a user: a device attached to the destination IOAS reaches,
 * past the copied range, the rest of the source mapping — user memory the
 * program never copied there (and it stays reachable until the whole longer
 * area is unmapped: an IOAS_UNMAP of exactly the copied range now cuts an
 * area and fails with ENOENT). A COPY of a whole source area is unaffected.
 *
 * Applied as: IOMMU_IOAS_COPY through a copy of iommufd_ioas_copy (_copy.ts)
 * whose iopt_get_pages has the unclamped element length.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler, getPagesWith } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-piece-length-unclamped', profile, {
    // THE FAULT: min(last_iova, iopt_area_last_iova(area)) lost: the piece runs to the area's end.
    handlers: { IOMMU_IOAS_COPY: copyHandler({ getPages: getPagesWith({ pieceLast: (area) => area.last }) }) },
  });
}
