/**
 * copy-get-pages-checks-list-empty
 *
 * Kernel: drivers/iommu/iommufd/io_pagetable.c, iopt_get_pages() (reached by
 * IOMMU_IOAS_COPY). The kernel walks the source range with
 * iopt_for_each_contig_area and then insists that the walk covered it all:
 *
 *	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
 *		...
 *		elm->start_byte = iopt_area_start_byte(area, iter.cur_iova);
 *		elm->pages = area->pages;
 *		elm->length = (last - iter.cur_iova) + 1;
 *		kref_get(&elm->pages->kref);
 *		list_add_tail(&elm->next, pages_list);
 *	}
 *	if (!iopt_area_contig_done(&iter)) {
 *		rc = -ENOENT;
 *		goto err_free;
 *	}
 *
 * The fault tests `list_empty(pages_list)` instead of
 * `!iopt_area_contig_done(&iter)`: "nothing found" is ENOENT, but a source
 * range that starts inside a mapping and then runs into a hole (or past the
 * last area of a run of several areas) is accepted with only the covered
 * prefix gathered. A plausible simplification of the termination test when
 * the contig iterator was introduced.
 *
 * Observable: IOMMU_IOAS_COPY of [mapped ++ hole] succeeds (the kernel says
 * ENOENT); the destination gets areas covering only the mapped prefix while
 * the copy reported the whole length.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { getPagesWith } from './_get_pages.ts';

export function createAdapter(profile: Profile): Implementation {
  const getPages = getPagesWith({
    // THE FAULT: was `if (!iopt_area_contig_done(&iter))`.
    covered: (_done, list) => list.length > 0,
  });
  return mutantImplementation('copy-get-pages-checks-list-empty', profile, { handlers: { IOMMU_IOAS_COPY: copyHandler({ getPages }) } });
}
