/**
 * Fault J1 — copy-src-offset-dropped.
 *
 * iopt_get_pages (io_pagetable.c), used by IOMMU_IOAS_COPY, builds one
 * iopt_pages_list element per source area. The element's start_byte must be
 * iopt_area_start_byte(area, iter.cur_iova): where the copied range begins
 * inside that area. The fault takes iopt_area_start_byte(area,
 * iopt_area_iova(area)) instead — the area's own start — so a COPY whose
 * src_iova lies inside an area (not at its first byte) maps the destination
 * onto the area's first pages instead of the pages under src_iova. The
 * length is right, so nothing fails: the new area silently aliases other
 * user pages (the class of wrong iova->index arithmetic at area boundaries).
 *
 * Only the COPY handler is replaced: a copy of iommufd_ioas_copy calling a
 * copy of iopt_get_pages with the one changed line.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { EINVAL, ENOENT, ENOMEM, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type IoPagetable, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaContig, ioptFreePagesList } from '../../../impl/iommufd/io_pagetable.ts';
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
    if (iopt.faults.shouldFail()) return unwind.exit(-ENOMEM);
    const pieceLast = last < area.last ? last : area.last;
    ioptGetPagesRef(area.pages!);
    // THE FAULT: elm->start_byte = iopt_area_start_byte(area, iopt_area_iova(area)) instead of (area, iter.cur_iova)
    list.push({ pages: area.pages, area: null, startByte: area.startByte, length: pieceLast - cur + 1n });
  }
  return unwind.exit(done ? 0 : -ENOENT);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-src-offset-dropped', profile, { handlers: { IOMMU_IOAS_COPY: copyHandler({ getPages: buggyGetPages }) } });
}
