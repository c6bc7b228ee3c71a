/**
 * Round 7a fault (drivers/iommu/iommufd/io_pagetable.c
 * __alloc_iova_check_range, used by iopt_alloc_iova for the allowed spans
 * and for every hole of the reserved ∪ area trees).
 *
 *     aligned_start = ALIGN_UP(*start, iova_alignment) | page_offset;
 *     if (aligned_start >= last || last - aligned_start < length - 1)
 *             return false;
 *     *start = aligned_start;
 *
 * The fault measures the fit from the hole's own start instead of the
 * aligned one (`last - *start < length - 1`), forgetting the padding the
 * alignment adds. A hole that is long enough but not once aligned is
 * accepted, and the IOVA returned is aligned_start: the new area runs past
 * the end of the hole by up to iova_alignment - 1 bytes, into the next used
 * span — an existing area (two areas, and two IOPTEs wanted, for the same
 * IOVA: the later map silently shadows or is shadowed), or a reserved range
 * (a device's MSI window or a range outside the domain aperture), or past
 * the end of an allowed range user space set with IOMMU_IOAS_ALLOW_IOVAS.
 *
 * Applied as: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY are copies of
 * iommufd_ioas_map / _copy → iopt_map_pages → iopt_alloc_area_pages →
 * iopt_alloc_iova with the one changed comparison.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { ioasMapHandler } from './_map.ts';
import { EINVAL, ENOMEM, ENOSPC, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IoptArea, PAGE_SIZE, ULONG_MAX, type IoPagetable, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { autoIovaAlignment, holes, IOMMU_WRITE, IOPT_ALLOC_IOVA, ioptAutoIovaAllowed, ioptMapPages, usedSpans } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaFillDomains, ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const P = BigInt(PAGE_SIZE);

/** __alloc_iova_check_range with the fault. */
function allocIovaCheckRange(start: bigint, last: bigint, length: bigint, alignment: bigint, pageOffset: bigint): bigint | undefined {
  if (start + alignment - 1n > ULONG_MAX) return undefined;
  let aligned = (start + alignment - 1n) & ~(alignment - 1n);
  aligned |= pageOffset;
  // THE FAULT: `last - start` (the hole's start), not `last - aligned_start`.
  if (aligned >= last || last - start < length - 1n) return undefined;
  return aligned;
}

/** iopt_alloc_iova (unchanged but for the check it calls). */
function allocIova(iopt: IoPagetable, uptr: bigint, length: bigint): { errno: number; iova?: bigint } {
  const pageOffset = uptr % P;
  if (length === 0n || length >= ULONG_MAX / 2n) return { errno: -EOVERFLOW };
  const alignment = autoIovaAlignment(iopt, uptr, length);
  if (!alignment) return { errno: -EINVAL };
  const windowStart = P;
  const windowLast = ULONG_MAX - P;
  const allowedSpans =
    iopt.allowed.length === 0
      ? [{ start: windowStart, last: windowLast }]
      : usedSpans([iopt.allowed])
          .filter((s) => s.start <= windowLast && s.last >= windowStart)
          .map((s) => ({ start: s.start < windowStart ? windowStart : s.start, last: s.last > windowLast ? windowLast : s.last }));
  const used = usedSpans([iopt.reserved, iopt.areas]);
  for (const span of allowedSpans) {
    const start = allocIovaCheckRange(span.start, span.last, length, alignment, pageOffset);
    if (start === undefined) continue;
    for (const hole of holes(used, start, span.last)) {
      const iova = allocIovaCheckRange(hole.start, hole.last, length, alignment, pageOffset);
      if (iova !== undefined) return { errno: 0, iova };
    }
  }
  return { errno: -ENOSPC };
}

/** iopt_map_pages (iopt_alloc_area_pages inlined), unchanged but for the allocator. */
function mapPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  if (!(flags & IOPT_ALLOC_IOVA)) return ioptMapPages(iopt, list, length, dstIova, prot, flags);
  for (const _elm of list) if (iopt.faults.shouldFail()) return -ENOMEM;
  if (length & BigInt(iopt.iovaAlignment - 1) || !length) return -EINVAL;
  const first = list[0]!;
  const uptr = first.pages!.uptr + first.startByte;
  const r = allocIova(iopt, uptr, length);
  if (r.errno) return r.errno;
  dstIova.iova = r.iova!;
  const steered = iopt.steerAutoIova?.(uptr, length);
  if (steered !== undefined && ioptAutoIovaAllowed(iopt, uptr, length, steered)) dstIova.iova = steered;
  // The areas are inserted at the chosen IOVA as iopt_alloc_area_pages does; a fixed-IOVA
  // ioptMapPages would re-check the range (iopt_check_iova), which the automatic path never does.
  let iova = dstIova.iova;
  for (const elm of list) {
    const pages = elm.pages!;
    if (prot & IOMMU_WRITE && !pages.writable) return -EPERM;
    if (Number(elm.startByte % P) & (iopt.iovaAlignment - 1)) return -EINVAL;
    const area = new IoptArea(iopt, iova, iova + elm.length - 1n, elm.startByte, prot);
    if (area.last > ULONG_MAX) return -EOVERFLOW;
    let i = 0;
    while (i < iopt.areas.length && iopt.areas[i]!.start < area.start) i++;
    iopt.areas.splice(i, 0, area);
    elm.area = area;
    iova += elm.length;
  }
  const unwind = new Unwind();
  for (const elm of list) {
    const rc = ioptAreaFillDomains(iopt, elm.area!, elm.pages!);
    if (rc) return unwind.exit(rc);
    unwind.onError('out_unfill', () => ioptAreaUnfillDomains(iopt, elm.area!, elm.pages!));
  }
  unwind.exit(0);
  for (const elm of list) {
    elm.area!.pages = elm.pages;
    elm.pages = null;
    elm.area = null;
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-iova-fit-ignores-align-pad', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
