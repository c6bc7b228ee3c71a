/**
 * alloc-iova-alignment-unclamped (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_iova).
 *
 * For an IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without IOMMU_IOAS_MAP_FIXED_IOVA
 * the kernel keeps the alignment present in the user address (or, for
 * user_va 0, the length rounded up to a power of two), but never asks for
 * more than HPAGE_SIZE (PAGE_SIZE without THP):
 *
 *     if (!addr)
 *             iova_alignment = roundup_pow_of_two(length);
 *     else
 *             iova_alignment = min_t(unsigned long,
 *                                    roundup_pow_of_two(length),
 *                                    1UL << __ffs64(addr));
 *
 *     #ifdef CONFIG_TRANSPARENT_HUGEPAGE
 *             max_alignment = HPAGE_SIZE;
 *     #endif
 *     /- Protect against ALIGN() overflow -/
 *     if (iova_alignment >= max_alignment)
 *             iova_alignment = max_alignment;
 *
 * THE FAULT: the clamp is lost (the two lines dropped when the THP #ifdef
 * was reworked), so a large map whose length and user address are both
 * aligned beyond 2 MiB demands that whole alignment of its IOVA: a 4 MiB
 * map from a 4 MiB-aligned address (or from user_va 0) wants a 4 MiB-aligned
 * IOVA, a 1 GiB one a 1 GiB-aligned IOVA.
 *
 * What a user sees: an automatic-IOVA map that fits a free, 2 MiB-aligned
 * hole of the allowed ranges fails with ENOSPC when no hole of the larger
 * alignment exists (e.g. IOMMU_IOAS_ALLOW_IOVAS [2 MiB, 6 MiB - 1], then a
 * 4 MiB map of user_va 0: the kernel places it at 2 MiB); where it
 * succeeds the IOVA lands further up than the kernel's first fit, wasting
 * IOVA space. Fixed-IOVA maps and VFIO_IOMMU_MAP_DMA are unaffected.
 *
 * Applied as: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY through a copy of the
 * reference's map path whose iopt_alloc_iova lacks the clamp.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL, ENOMEM, ENOSPC, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, IoptArea, PAGE_SIZE, ULONG_MAX, type IoPagetable, type PagesListElm, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { allocIovaCheckRange, ioptAutoIovaAllowed, ioptCheckIova, ioptFreePagesList, ioptGetPages, IOMMU_WRITE, IOPT_ALLOC_IOVA, usedSpans, holes } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAllocPages, ioptAreaFillDomains, ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { iommufdTestSyzConvIovaId } from '../../../impl/iommufd/selftest.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';

const P = BigInt(PAGE_SIZE);
const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');

/** The alignment the faulty iopt_alloc_iova demands (0: -EINVAL). */
function faultyAlignment(iopt: IoPagetable, uptr: bigint, length: bigint): bigint {
  let p = 1n;
  while (p < length) p <<= 1n;
  const low = uptr & -uptr;
  const alignment = uptr === 0n ? p : p < low ? p : low;
  // THE FAULT: no `if (iova_alignment >= max_alignment) iova_alignment = max_alignment;`
  return alignment < BigInt(iopt.iovaAlignment) ? 0n : alignment;
}

/** iopt_alloc_iova (the reference's first fit) over the unclamped alignment. */
function allocIova(iopt: IoPagetable, uptr: bigint, length: bigint): Result<bigint> {
  const pageOffset = uptr % P;
  if (length === 0n || length >= ULONG_MAX / 2n) return err(-EOVERFLOW);
  const alignment = faultyAlignment(iopt, uptr, length);
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
    for (const hole of holes(used, start, span.last)) {
      const iova = allocIovaCheckRange(hole.start, hole.last, length, alignment, pageOffset);
      if (iova !== undefined) return ok(iova);
    }
  }
  return err(-ENOSPC);
}

/** iopt_alloc_area_pages (the reference's, over the faulty iopt_alloc_iova). */
function allocAreaPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  for (const _elm of list) if (iopt.faults.shouldFail()) return -ENOMEM;
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

// ---- the reference's map path (io_pagetable.c iopt_map_pages and its callers), with the fault ----

/** iopt_insert_area (the reference's, unchanged). */
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

/** iopt_map_pages (the reference's, over the faulty iopt_alloc_area_pages). */
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

/** iommufd_ioas_map -> iopt_map_user_pages (the reference's, over the faulty iopt_map_pages). */
function ioasMap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS || cmd.num('__reserved')) return -EOPNOTSUPP;
  if (cmd.big('iova') >= ULONG_MAX || cmd.big('length') >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const prot = convIommuProt(flags);
  const uptr = cmd.big('user_va');
  const length = cmd.big('length');
  const pr = ioptAllocPages(ctx.proc, uptr, length, (prot & IOMMU_WRITE) !== 0, ctx.profile);
  if (pr.errno) return pr.errno;
  const pages = pr.value!;
  if (ctx.accountMode === 'MM' && pages.accountMode === 'USER') pages.accountMode = 'MM';
  const list: PagesListElm[] = [{ pages, area: null, startByte: uptr - pages.uptr, length }];
  const dst = { iova: cmd.big('iova') };
  const rc = mapPages(r.value!.iopt, list, length, dst, prot, flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
  if (rc) {
    ioptFreePagesList(list);
    return rc;
  }
  cmd.set('iova', dst.iova);
  return iommufdUcmdRespond(ucmd);
}

/** iommufd_ioas_copy (the reference's, over the faulty iopt_map_pages). */
function ioasCopy(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  iommufdTestSyzConvIovaId(ucmd, cmd.num('src_ioas_id'), 'src_iova');
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS) return -EOPNOTSUPP;
  const length = cmd.big('length');
  if (length >= ULONG_MAX || cmd.big('src_iova') >= ULONG_MAX || cmd.big('dst_iova') >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
  const src = iommufdGetIoas(ctx, cmd.num('src_ioas_id'));
  if (src.errno) return src.errno;
  const list: PagesListElm[] = [];
  let rc = ioptGetPages(src.value!.iopt, cmd.big('src_iova'), length, list);
  if (rc) return rc;
  const unwind = new Unwind();
  unwind.always('out_pages', () => ioptFreePagesList(list));
  const dst = iommufdGetIoas(ctx, cmd.num('dst_ioas_id'));
  if (dst.errno) return unwind.exit(dst.errno);
  const iova = { iova: cmd.big('dst_iova') };
  rc = mapPages(dst.value!.iopt, list, length, iova, convIommuProt(flags), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
  if (rc) return unwind.exit(rc);
  cmd.set('dst_iova', iova.iova);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-iova-alignment-unclamped', profile, {
    handlers: { IOMMU_IOAS_MAP: (ucmd) => ioasMap(ucmd), IOMMU_IOAS_COPY: (ucmd) => ioasCopy(ucmd) },
  });
}
