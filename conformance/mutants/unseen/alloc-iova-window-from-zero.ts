/**
 * C8.2 — alloc-iova-window-from-zero (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_iova).
 *
 * With no allowed ranges, iopt_alloc_iova walks the holes of the reserved and
 * area trees inside [PAGE_SIZE, ULONG_MAX - PAGE_SIZE]:
 *     interval_tree_for_each_double_span(&used_span, &iopt->reserved_itree,
 *             &iopt->area_itree, PAGE_SIZE, ULONG_MAX - PAGE_SIZE)
 * (the allowed-ranges branch clamps to the same window). The fault passes 0
 * as the start of the walk in that branch, so the first hole starts at IOVA 0
 * and an automatic IOMMU_IOAS_MAP or IOMMU_IOAS_COPY into an IOAS whose low
 * space is free is given IOVA 0 (or the buffer's page offset): the DMA address
 * 0 that callers and devices treat as "no mapping", which iommufd promises
 * never to hand out.
 *
 * Applied as: an automatic MAP or COPY asks this first-fit walk (window
 * [0, ULONG_MAX - PAGE_SIZE] when no allowed ranges are set) for its IOVA and
 * is then placed there as a fixed one.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ok, type Result } from '../../../impl/iommufd/object.ts';
import { PAGE_SIZE, ULONG_MAX, type IoPagetable, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { allocIovaCheckRange, autoIovaAlignment, holes, IOPT_ALLOC_IOVA, ioptAllocIova, ioptMapPages, usedSpans } from '../../../impl/iommufd/io_pagetable.ts';
import { copyHandler } from './_copy.ts';
import { ioasMapHandler } from './_map.ts';
import { mutantImplementation } from '../harness.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_alloc_iova with the faulty window start in the no-allowed-ranges branch. */
function allocIova(iopt: IoPagetable, uptr: bigint, length: bigint): Result<bigint> {
  if (iopt.allowed.length) return ioptAllocIova(iopt, uptr, length);
  const r = ioptAllocIova(iopt, uptr, length); // the reference's errors (EOVERFLOW, EINVAL, ENOSPC) are the same
  if (r.errno) return r;
  const alignment = autoIovaAlignment(iopt, uptr, length);
  const windowStart = 0n; // THE FAULT: PAGE_SIZE
  const windowLast = ULONG_MAX - P;
  const used = usedSpans([iopt.reserved, iopt.areas]);
  for (const hole of holes(used, windowStart, windowLast)) {
    const iova = allocIovaCheckRange(hole.start, hole.last, length, alignment, uptr % P);
    if (iova !== undefined) return ok(iova);
  }
  return r;
}

/** iopt_map_pages with the faulty automatic placement. */
function mapPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  if (!(flags & IOPT_ALLOC_IOVA) || !list.length || !length || length & BigInt(iopt.iovaAlignment - 1)) return ioptMapPages(iopt, list, length, dstIova, prot, flags);
  const first = list[0]!;
  const r = allocIova(iopt, first.pages!.uptr + first.startByte, length);
  if (r.errno) return ioptMapPages(iopt, list, length, dstIova, prot, flags);
  dstIova.iova = r.value!;
  return ioptMapPages(iopt, list, length, dstIova, prot, flags & ~IOPT_ALLOC_IOVA);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-iova-window-from-zero', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
