/**
 * alloc-iova-window-to-ulong-max (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_iova, the allowed-ranges walk; 6.12 and 7.3 alike).
 *
 * An automatic IOVA never lies in the first or the last page of the IOVA
 * space. With allowed ranges set (IOMMU_IOAS_ALLOW_IOVAS), the walk over them
 * is clipped to that window, and the branch for an empty allowed tree uses
 * the same bounds:
 *
 *     interval_tree_for_each_span(&allowed_span, &iopt->allowed_itree,
 *                                 PAGE_SIZE, ULONG_MAX - PAGE_SIZE) {
 *             if (RB_EMPTY_ROOT(&iopt->allowed_itree.rb_root)) {
 *                     allowed_span.start_used = PAGE_SIZE;
 *                     allowed_span.last_used = ULONG_MAX - PAGE_SIZE;
 *                     allowed_span.is_hole = false;
 *             }
 *             if (!__alloc_iova_check_used(&allowed_span, length,
 *                                          iova_alignment, page_offset))
 *                     continue;
 *             interval_tree_for_each_double_span(
 *                     &used_span, &iopt->reserved_itree, &iopt->area_itree,
 *                     allowed_span.start_used, allowed_span.last_used) {
 *             ...
 *
 * THE FAULT: the span walk's last index is ULONG_MAX (the "whole space"
 * bound written out of habit, as every other walk in io_pagetable.c uses
 * 0..ULONG_MAX), while the hard-coded empty-tree window keeps
 * ULONG_MAX - PAGE_SIZE. Nothing changes without allowed ranges; with an
 * allowed range that reaches into the last page of the space, the walk's
 * span runs to ULONG_MAX and the automatic IOVA can be placed so that the
 * area ends at ULONG_MAX (e.g. allowed [2^64 - 0x4000, 2^64 - 1], an
 * automatic IOMMU_IOAS_MAP or IOMMU_IOAS_COPY of 0x4000 bytes: the kernel
 * answers ENOSPC, the fault maps it at 2^64 - 0x4000; with lower space
 * taken, a map the kernel places lower, or refuses, lands at the top). The
 * top page is exactly what the window keeps free so that `last_iova + 1`
 * never wraps for an automatically placed area.
 *
 * Applied as: an automatic MAP or COPY whose faulty first-fit answer differs
 * from the reference's is placed at that IOVA as a fixed one (the fixed path
 * checks the same alignment, reserved ranges and areas the walk avoided).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { PAGE_SIZE, ULONG_MAX, type IoPagetable, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { allocIovaCheckRange, autoIovaAlignment, holes, IOPT_ALLOC_IOVA, ioptAllocIova, ioptMapPages, usedSpans } from '../../../impl/iommufd/io_pagetable.ts';
import { ENOSPC, EINVAL, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { copyHandler } from './_copy.ts';
import { ioasMapHandler } from './_map.ts';
import { mutantImplementation } from '../harness.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_alloc_iova with the allowed-span walk bounded by ULONG_MAX. */
function allocIova(iopt: IoPagetable, uptr: bigint, length: bigint): Result<bigint> {
  const pageOffset = uptr % P;
  if (length === 0n || length >= ULONG_MAX / 2n) return err(-EOVERFLOW);
  const alignment = autoIovaAlignment(iopt, uptr, length);
  if (!alignment) return err(-EINVAL);
  const windowStart = P;
  const allowedSpans =
    iopt.allowed.length === 0
      ? [{ start: windowStart, last: ULONG_MAX - P }] // the empty-tree override keeps the right window
      : usedSpans([iopt.allowed])
          .filter((s) => s.last >= windowStart)
          // THE FAULT: interval_tree_for_each_span(..., PAGE_SIZE, ULONG_MAX): no clip at ULONG_MAX - PAGE_SIZE.
          .map((s) => ({ start: s.start < windowStart ? windowStart : s.start, last: s.last }));
  const used = usedSpans([iopt.reserved, iopt.areas]);
  for (const span of allowedSpans) {
    const start = allocIovaCheckRange(span.start, span.last, length, alignment, pageOffset);
    if (start === undefined) continue;
    for (const hole of holes(used, start, span.last)) {
      const iova = allocIovaCheckRange(hole.start, hole.last, length, alignment, pageOffset);
      if (iova !== undefined) return ok(iova);
    }
  }
  return err(-ENOSPC);
}

/** iopt_map_pages whose automatic placement is the faulty walk's. */
function mapPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  if (!(flags & IOPT_ALLOC_IOVA) || !list.length || !length || length & BigInt(iopt.iovaAlignment - 1)) return ioptMapPages(iopt, list, length, dstIova, prot, flags);
  const first = list[0]!;
  const uptr = first.pages!.uptr + first.startByte;
  const faulty = allocIova(iopt, uptr, length);
  const ref = ioptAllocIova(iopt, uptr, length);
  if (faulty.errno === ref.errno && faulty.value === ref.value) return ioptMapPages(iopt, list, length, dstIova, prot, flags);
  if (faulty.errno) return ioptMapPages(iopt, list, length, dstIova, prot, flags); // never: the faulty window only widens
  dstIova.iova = faulty.value!;
  return ioptMapPages(iopt, list, length, dstIova, prot, flags & ~IOPT_ALLOC_IOVA);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-iova-window-to-ulong-max', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
