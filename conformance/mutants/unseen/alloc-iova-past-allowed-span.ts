/**
 * alloc-iova-past-allowed-span (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_iova).
 *
 * Once IOMMU_IOAS_ALLOW_IOVAS has given an IOAS a list of allowed ranges,
 * automatic IOVA allocation (IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without
 * IOMMU_IOAS_MAP_FIXED_IOVA) must place every new area inside one of them:
 * for each allowed span big enough for the length, iopt_alloc_iova walks the
 * holes of reserved_itree ∪ area_itree *within that span*:
 *
 *     interval_tree_for_each_span(&allowed_span, &iopt->allowed_itree,
 *                                 PAGE_SIZE, ULONG_MAX - PAGE_SIZE) {
 *             ...
 *             interval_tree_for_each_double_span(
 *                     &used_span, &iopt->reserved_itree, &iopt->area_itree,
 *                     allowed_span.start_used, allowed_span.last_used) {
 *
 * The fault bounds the inner walk with the outer iterator's last_index
 * (ULONG_MAX - PAGE_SIZE, the iteration bound the struct carries next to
 * start_used/last_used) instead of allowed_span.last_used. While the
 * allowed span still has a fitting hole nothing changes (first fit finds
 * it); once earlier maps have filled it (or fragmented it so the aligned
 * length no longer fits), the walk runs on past the span's end and returns
 * the first hole beyond it: an area that starts in the allowed range and
 * runs past its end, or one entirely outside every allowed range. Without
 * allowed ranges the window is [PAGE_SIZE, ULONG_MAX - PAGE_SIZE] either
 * way, so only IOASes with ALLOW_IOVAS are affected.
 *
 * Consequence: the IOAS maps user memory at IOVAs the VMM declared not
 * usable (ALLOW_IOVAS is how it confines the IOAS to, say, the guest's
 * IOVA window or an emulated vIOMMU's aperture), instead of failing with
 * ENOSPC; a device attached to the IOAS can reach that memory at IOVAs the
 * VMM never exposes, and later fixed maps the VMM does place inside its
 * window meet no conflict while the guest-visible layout is wrong.
 *
 * Applied to IOMMU_IOAS_MAP and IOMMU_IOAS_COPY through _map.ts and
 * _copy.ts and a copy of iopt_map_pages / iopt_alloc_area_pages /
 * iopt_alloc_iova.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { ioasMapHandler } from './_map.ts';
import {
  allocIovaCheckRange,
  autoIovaAlignment,
  holes,
  IOPT_ALLOC_IOVA,
  ioptAutoIovaAllowed,
  ioptCheckIova,
  usedSpans,
} from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaFillDomains, ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { IoptArea, PAGE_SIZE, ULONG_MAX, type IoPagetable, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { IOMMU_WRITE } from '../../../impl/pagetable/format.ts';
import { EINVAL, ENOMEM, ENOSPC, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_alloc_iova with the hole walk bounded by the iterator's last_index instead of the allowed span's last_used. */
function allocIova(iopt: IoPagetable, uptr: bigint, length: bigint): Result<bigint> {
  const pageOffset = uptr % P;
  if (length === 0n || length >= ULONG_MAX / 2n) return err(-EOVERFLOW);
  const alignment = autoIovaAlignment(iopt, uptr, length);
  if (!alignment) return err(-EINVAL);
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
    // THE FAULT: interval_tree_for_each_double_span(..., allowed_span.start_used, allowed_span.last_index)
    for (const hole of holes(used, start, windowLast)) {
      const iova = allocIovaCheckRange(hole.start, hole.last, length, alignment, pageOffset);
      if (iova !== undefined) return ok(iova);
    }
  }
  return err(-ENOSPC);
}

/** iopt_insert_area, as the reference has it. */
function insertArea(iopt: IoPagetable, elm: PagesListElm, iova: bigint, prot: number): number {
  const pages = elm.pages!;
  if (prot & IOMMU_WRITE && !pages.writable) return -EPERM;
  if (Number(elm.startByte % P) & (iopt.iovaAlignment - 1)) return -EINVAL;
  const area = new IoptArea(iopt, iova, iova + elm.length - 1n, elm.startByte, prot);
  if (area.last > ULONG_MAX) return -EOVERFLOW;
  let i = 0;
  while (i < iopt.areas.length && iopt.areas[i]!.start < area.start) i++;
  iopt.areas.splice(i, 0, area);
  elm.area = area;
  return 0;
}

/** iopt_alloc_area_pages, as the reference has it, over the faulty iopt_alloc_iova. */
function allocAreaPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  for (const _elm of list) if (iopt.faults.shouldFail()) return -ENOMEM; // iopt_area_alloc
  if (length & BigInt(iopt.iovaAlignment - 1) || !length) return -EINVAL;
  if (flags & IOPT_ALLOC_IOVA) {
    const first = list[0]!;
    const uptr = first.pages!.uptr + first.startByte;
    const r = allocIova(iopt, uptr, length);
    if (r.errno) return r.errno;
    dstIova.iova = r.value!;
    const steered = iopt.steerAutoIova?.(uptr, length);
    if (steered !== undefined && ioptAutoIovaAllowed(iopt, uptr, length, steered)) dstIova.iova = steered;
  } else {
    const rc = ioptCheckIova(iopt, dstIova.iova, length);
    if (rc) return rc;
  }
  let iova = dstIova.iova;
  for (const elm of list) {
    const rc = insertArea(iopt, elm, iova, prot);
    if (rc) return rc;
    iova += elm.length;
  }
  return 0;
}

/** iopt_map_pages, as the reference has it. */
function mapPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  const rc = allocAreaPages(iopt, list, length, dstIova, prot, flags);
  if (rc) return rc;
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
  return mutantImplementation('alloc-iova-past-allowed-span', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
  });
}
