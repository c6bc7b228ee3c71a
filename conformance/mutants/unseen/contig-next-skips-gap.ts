/**
 * contig-next-skips-gap (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_contig_next, the iterator behind iopt_for_each_contig_area;
 * reached here from IOMMU_IOAS_COPY → iommufd_ioas_copy → iopt_get_pages).
 *
 * iopt_for_each_contig_area walks the areas that cover [iova, last_iova]
 * with no hole: each step moves cur_iova past the current area and takes the
 * next area intersecting the rest of the range, which must start exactly at
 * cur_iova (and be populated), or the walk stops and iopt_area_contig_done()
 * reports the range as not covered:
 *
 *     struct iopt_area *iopt_area_contig_next(struct iopt_area_contig_iter *iter)
 *     {
 *             ...
 *             iter->cur_iova = last_iova + 1;
 *             iter->area = iopt_area_iter_next(iter->area, iter->cur_iova,
 *                                              iter->last_iova);
 *             if (!iter->area)
 *                     return NULL;
 *             if (iter->cur_iova != iopt_area_iova(iter->area) ||
 *                 !iter->area->pages) {
 *                     iter->area = NULL;
 *                     return NULL;
 *             }
 *             return iter->area;
 *     }
 *
 * The fault keeps only the "being built" half of the test — iopt_area_iter_next()
 * already returns "the next area of the range", which reads as contiguous:
 *
 *             if (!iter->area->pages) {
 *
 * so a hole between two areas is walked over. The piece of the area after the
 * hole still starts at cur_iova, i.e. before that area, and its offset in the
 * pages is computed back from the area's start:
 *
 *             elm->start_byte = iopt_area_start_byte(area, iter.cur_iova);
 *             elm->length = (last - iter.cur_iova) + 1;
 *
 * — the hole's length before the area's own first byte of its iopt_pages.
 *
 * Consequence: IOMMU_IOAS_COPY of a source range with a hole no longer fails
 * with ENOENT. When the area after the hole does not start at the beginning
 * of its iopt_pages — the source of the copy was itself made by IOAS_COPY
 * from the middle of a mapping, or is the tail that VFIO type1 (v1)
 * VFIO_IOMMU_UNMAP_DMA left when it cut a hole in a mapping — the copy
 * succeeds and the destination maps, at the hole's IOVAs, the user memory
 * that lies before that area in the original mapping: memory the source
 * range does not map there, and in the VFIO case memory the user explicitly
 * unmapped. Devices of the destination IOAS read and write it (it is pinned
 * again for them). Otherwise (a plain IOAS_MAP after the hole) the offset
 * runs below the start of its iopt_pages and iopt_insert_area's overflow
 * checks refuse the copy with EOVERFLOW instead of ENOENT.
 *
 * Applied as: IOMMU_IOAS_COPY through a copy of iommufd_ioas_copy whose
 * iopt_get_pages walks the source with the faulty iterator, and whose
 * iopt_map_pages inserts areas with the kernel's iopt_insert_area checks
 * (including the pages_node bounds the reference never needs). The access
 * paths (pin, unpin, rw) keep the reference's iterator.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, ENOENT, ENOMEM, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ioptAreaIterFirst, ioptFreePagesList } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptGetPagesRef } from '../../../impl/iommufd/pages.ts';
import { IoptArea, ULONG_MAX, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { mapPagesWith } from './_map.ts';

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

/** iopt_for_each_contig_area with the faulty iopt_area_contig_next: the pieces and iopt_area_contig_done. */
function contigAreas(iopt: IoPagetable, iova: bigint, last: bigint): { pieces: { area: IoptArea; cur: bigint }[]; done: boolean } {
  const pieces: { area: IoptArea; cur: bigint }[] = [];
  // iopt_area_contig_init
  let area = ioptAreaIterFirst(iopt, iova, iova);
  let cur = iova;
  if (!area || !area.pages) return { pieces, done: false };
  for (;;) {
    pieces.push({ area, cur });
    // iopt_area_contig_next
    if (last <= area.last) return { pieces, done: true };
    cur = area.last + 1n;
    const next = ioptAreaIterFirst(iopt, cur, last);
    if (!next) return { pieces, done: false };
    // THE FAULT: `iter->cur_iova != iopt_area_iova(iter->area) ||` is gone.
    if (!next.pages) return { pieces, done: false };
    area = next;
  }
}

/** iopt_get_pages over the faulty iterator. */
const getPages: typeof import('../../../impl/iommufd/io_pagetable.ts').ioptGetPages = (iopt, iova, length, list) => {
  if (!length) return -EINVAL;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const { pieces, done } = contigAreas(iopt, iova, last);
  const unwind = new Unwind();
  unwind.onError('err_free', () => ioptFreePagesList(list));
  for (const { area, cur } of pieces) {
    if (iopt.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(elm)
    const pieceLast = last < area.last ? last : area.last;
    ioptGetPagesRef(area.pages!);
    // iopt_area_start_byte(area, iter.cur_iova): unsigned arithmetic, cur_iova may lie before the area.
    list.push({ pages: area.pages, area: null, startByte: u64(area.startByte + (cur - area.start)), length: pieceLast - cur + 1n });
  }
  return unwind.exit(done ? 0 : -ENOENT);
};

/** iopt_map_pages with iopt_insert_area's overflow and pages_node bounds checks, as the kernel's. */
const mapPages = mapPagesWith({ checksPagesBounds: true });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('contig-next-skips-gap', profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ getPages, mapPages }) },
  });
}
