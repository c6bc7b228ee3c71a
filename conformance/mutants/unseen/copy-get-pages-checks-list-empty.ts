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
import { ENOENT, EINVAL, ENOMEM, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaContig, ioptAreaStartByte, ioptFreePagesList, type ioptGetPages } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptGetPagesRef } from '../../../impl/iommufd/pages.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';

/** iopt_get_pages whose completeness test is list_empty(). */
const getPagesListEmpty: typeof ioptGetPages = (iopt, iova, length, list) => {
  if (!length) return -EINVAL;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const { pieces } = ioptAreaContig(iopt, iova, last);
  const unwind = new Unwind();
  unwind.onError('err_free', () => ioptFreePagesList(list));
  for (const { area, cur } of pieces) {
    if (iopt.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(elm)
    const pieceLast = last < area.last ? last : area.last;
    ioptGetPagesRef(area.pages!);
    list.push({ pages: area.pages, area: null, startByte: ioptAreaStartByte(area, cur), length: pieceLast - cur + 1n });
  }
  // FAULT: was `if (!iopt_area_contig_done(&iter))`
  return unwind.exit(list.length === 0 ? -ENOENT : 0);
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-get-pages-checks-list-empty', profile, {
    handlers: { IOMMU_IOAS_COPY: (ucmd) => copyHandler({ getPages: getPagesListEmpty })(ucmd) },
  });
}
