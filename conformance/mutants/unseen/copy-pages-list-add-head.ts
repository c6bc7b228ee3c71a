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
import { EINVAL, ENOENT, ENOMEM, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type IoPagetable, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaContig, ioptAreaStartByte, ioptFreePagesList } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptGetPagesRef } from '../../../impl/iommufd/pages.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

/** iopt_get_pages with the fault. */
function buggyGetPages(iopt: IoPagetable, iova: bigint, length: bigint, list: PagesListElm[]): number {
  if (!length) return -EINVAL;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const { pieces, done } = ioptAreaContig(iopt, iova, last);
  const unwind = new Unwind();
  unwind.onError('err_free', () => ioptFreePagesList(list));
  for (const { area, cur } of pieces) {
    if (iopt.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(elm)
    const pieceLast = last < area.last ? last : area.last;
    ioptGetPagesRef(area.pages!);
    // THE FAULT: list_add(&elm->next, pages_list) instead of list_add_tail.
    list.unshift({ pages: area.pages, area: null, startByte: ioptAreaStartByte(area, cur), length: pieceLast - cur + 1n });
  }
  return unwind.exit(done ? 0 : -ENOENT);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-pages-list-add-head', profile, { handlers: { IOMMU_IOAS_COPY: copyHandler({ getPages: buggyGetPages }) } });
}
