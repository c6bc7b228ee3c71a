/**
 * struct io_pagetable: the IOVA space of one IOAS. Mirrors
 * drivers/iommu/iommufd/io_pagetable.c (and the area parts of pages.c):
 * areas (one per MAP/COPY piece, never split except by VFIO type1 v1),
 * the reserved and allowed interval sets, iova_alignment and
 * disable_large_pages, the domain list (every domain holds exactly the areas'
 * mappings in its real page table), and the access list.
 *
 * IOVAs are bigint (u64 from the uAPI; ULONG_MAX on 64-bit = 2^64-1). Byte
 * offsets inside an iopt_pages are bigint too; page indexes are numbers.
 *
 * Return convention: 0 or a negative errno; values through `Result<T>`
 * ({ errno: 0, value } | { errno: -Exxx }) or an out-object.
 *
 * Public API (what hw_pagetable.ts, access.ts, ioas.ts and vfio_compat.ts use):
 *   IOMMU_READ/IOMMU_WRITE/IOMMU_CACHE, IOPT_ALLOC_IOVA,
 *   ioptMapUserPages(iopt, proc, accountMM, iova, uptr, length, prot, flags, profile) -> Result<bigint>
 *   ioptGetPages, ioptMapPages, ioptFreePagesList, ioptUnmapIova, ioptUnmapAll,
 *   ioptSetAllowIova, ioptReserveIova, ioptRemoveReservedIova,
 *   ioptTableAddDomain(iopt, domain) -> errno, ioptTableRemoveDomain(iopt, domain),
 *   ioptTableEnforceDevResvRegions(iopt, regions, owner) -> errno,
 *   ioptDisableLargePages, ioptEnableLargePages, ioptAddAccess, ioptRemoveAccess,
 *   ioptCutIova, ioptAreaContig, ioptAreaStartByte, ioptAreaIovaToIndex,
 *   ioptIovaRanges (the reserved-tree holes), ioptDestroyTable,
 *   ioptAutoIovaAllowed + IoPagetable.steerAutoIova (seam for the suite's differential oracle).
 */
import type { Process } from '../process/process.ts';
import { EADDRINUSE, EBUSY, EDEADLOCK, EEXIST, EINVAL, ENOENT, ENOMEM, ENOSPC, EOVERFLOW, EPERM } from '../lib/errno.ts';
import { err, ok, type Result } from './object.ts';
import {
  type IoPagetable,
  type IoptAccess,
  IoptArea,
  type IoptDomain,
  type PagesListElm,
  PAGE_SIZE,
  type Profile,
  type Range,
  type ReservedRange,
  ULONG_MAX,
} from './iommufd_private.ts';
import {
  ioptAllocPages,
  ioptAreaFillDomain,
  ioptAreaFillDomains,
  ioptAreaUnfillDomain,
  ioptAreaUnfillDomains,
  ioptGetPagesRef,
  ioptPagesHold,
  ioptPutPages,
} from './pages.ts';
import { IOMMU_WRITE } from '../pagetable/format.ts';
import { Unwind } from '../lib/unwind.ts';

const P = BigInt(PAGE_SIZE);
/** HPAGE_SIZE with CONFIG_TRANSPARENT_HUGEPAGE (x86-64): iopt_alloc_iova's max_alignment. */
const HPAGE_SIZE = 2n * 1024n * 1024n;

/** include/linux/iommu.h prot bits, as the page-table core defines them. */
export { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE } from '../pagetable/format.ts';
export const IOPT_ALLOC_IOVA = 1;

// -- interval helpers --------------------------------------------------------

function intersects(r: Range, start: bigint, last: bigint): boolean {
  return r.start <= last && r.last >= start;
}

/** iopt_area_iter_first: the lowest area intersecting [start, last]. */
export function ioptAreaIterFirst(iopt: IoPagetable, start: bigint, last: bigint): IoptArea | undefined {
  return iopt.areas.find((a) => intersects(a, start, last));
}

function reservedIterFirst(iopt: IoPagetable, start: bigint, last: bigint): ReservedRange | undefined {
  return iopt.reserved.find((r) => intersects(r, start, last));
}

function allowedIterFirst(iopt: IoPagetable, start: bigint, last: bigint): Range | undefined {
  return iopt.allowed.find((r) => intersects(r, start, last));
}

/** Merge ranges into sorted spans of used space; touching ranges join (interval_tree_span_iter). */
export function usedSpans(lists: readonly (readonly Range[])[]): Range[] {
  const all = lists.flat().slice().sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: { start: bigint; last: bigint }[] = [];
  for (const r of all) {
    const top = out[out.length - 1];
    if (top && r.start <= top.last + 1n) {
      if (r.last > top.last) top.last = r.last;
    } else out.push({ start: r.start, last: r.last });
  }
  return out;
}

/** The holes of `spans` inside [start, last]. */
export function holes(spans: readonly Range[], start: bigint, last: bigint): Range[] {
  const out: Range[] = [];
  let cur = start;
  for (const s of spans) {
    if (s.last < cur) continue;
    if (s.start > last) break;
    if (s.start > cur) out.push({ start: cur, last: s.start - 1n });
    if (s.last >= last) return out;
    cur = s.last + 1n;
  }
  if (cur <= last) out.push({ start: cur, last });
  return out;
}

/** IOAS_IOVA_RANGES: the holes of the reserved tree over [0, ULONG_MAX]. */
export function ioptIovaRanges(iopt: IoPagetable): Range[] {
  return holes(usedSpans([iopt.reserved]), 0n, ULONG_MAX);
}

function insertSorted<T extends Range>(list: T[], item: T): void {
  let i = 0;
  while (i < list.length && list[i]!.start < item.start) i++;
  list.splice(i, 0, item);
}

function roundupPowOfTwo(n: bigint): bigint {
  let p = 1n;
  while (p < n) p <<= 1n;
  return p;
}

function lowestBit(n: bigint): bigint {
  return n & -n;
}

// -- area geometry (io_pagetable.h) -------------------------------------------

/** iopt_area_start_byte */
export function ioptAreaStartByte(area: IoptArea, iova: bigint): bigint {
  return area.startByte + (iova - area.start);
}

/** iopt_area_iova_to_index */
export function ioptAreaIovaToIndex(area: IoptArea, iova: bigint): number {
  return Number(ioptAreaStartByte(area, iova) / P);
}

/**
 * iopt_area_contig_init/next/done: the areas covering [iova, last] with no
 * gap, each with the iova where its piece starts. `done` is
 * iopt_area_contig_done: the whole range is covered by populated areas.
 */
export function ioptAreaContig(iopt: IoPagetable, iova: bigint, last: bigint): { pieces: { area: IoptArea; cur: bigint }[]; done: boolean } {
  const pieces: { area: IoptArea; cur: bigint }[] = [];
  let area = iopt.areas.find((a) => a.start <= iova && a.last >= iova);
  let cur = iova;
  while (area && area.pages) {
    pieces.push({ area, cur });
    if (last <= area.last) return { pieces, done: true };
    cur = area.last + 1n;
    const next = ioptAreaIterFirst(iopt, cur, last);
    if (!next || next.start !== cur) break;
    area = next;
  }
  return { pieces, done: false };
}

// -- IOVA allocation ----------------------------------------------------------

/** __alloc_iova_check_range: the aligned start in [start, last] that fits `length`, or undefined. */
export function allocIovaCheckRange(start: bigint, last: bigint, length: bigint, alignment: bigint, pageOffset: bigint): bigint | undefined {
  if (start + alignment - 1n > ULONG_MAX) return undefined;
  let aligned = (start + alignment - 1n) & ~(alignment - 1n);
  aligned |= pageOffset;
  if (aligned >= last || last - aligned < length - 1n) return undefined;
  return aligned;
}

/**
 * iopt_alloc_iova: first fit, in address order, over the holes of
 * reserved ∪ areas inside the allowed ranges (or [P, ULONG_MAX - P] when none),
 * keeping the alignment present in the user address.
 */
export function ioptAllocIova(iopt: IoPagetable, uptr: bigint, length: bigint): Result<bigint> {
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
          .filter((s) => intersects(s, windowStart, windowLast))
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

/** The alignment iopt_alloc_iova demands for this user address and length (0 if it would fail). */
export function autoIovaAlignment(iopt: IoPagetable, uptr: bigint, length: bigint): bigint {
  if (length === 0n || length >= ULONG_MAX / 2n) return 0n;
  let alignment = uptr === 0n ? roundupPowOfTwo(length) : roundupPowOfTwo(length) < lowestBit(uptr) ? roundupPowOfTwo(length) : lowestBit(uptr);
  if (alignment >= HPAGE_SIZE) alignment = HPAGE_SIZE;
  return alignment < BigInt(iopt.iovaAlignment) ? 0n : alignment;
}

/**
 * Whether `iova` is a placement iopt_alloc_iova's rules allow for (uptr,
 * length), ignoring first fit: inside [P, ULONG_MAX - P] and within one
 * allowed range (if any), aligned as the rule demands with the user
 * address's page offset kept, and clear of reserved ranges and areas.
 */
export function ioptAutoIovaAllowed(iopt: IoPagetable, uptr: bigint, length: bigint, iova: bigint): boolean {
  const alignment = autoIovaAlignment(iopt, uptr, length);
  if (!alignment) return false;
  const pageOffset = uptr % P;
  if (((iova & ~(alignment - 1n)) | pageOffset) !== iova) return false;
  const last = iova + length - 1n;
  if (iova < P || last > ULONG_MAX - P) return false;
  if (iopt.allowed.length && !usedSpans([iopt.allowed]).some((s) => s.start <= iova && s.last >= last)) return false;
  return !reservedIterFirst(iopt, iova, last) && !ioptAreaIterFirst(iopt, iova, last);
}

/** iopt_check_iova: a fixed IOVA must be aligned, not wrap, avoid reserved (EINVAL) and areas (EEXIST). */
export function ioptCheckIova(iopt: IoPagetable, iova: bigint, length: bigint): number {
  if (iova & BigInt(iopt.iovaAlignment - 1)) return -EINVAL;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  if (reservedIterFirst(iopt, iova, last)) return -EINVAL;
  if (ioptAreaIterFirst(iopt, iova, last)) return -EEXIST;
  return 0;
}

// -- map / copy ---------------------------------------------------------------

/** iopt_insert_area: EPERM (write on read-only pages), EINVAL (page offset vs alignment). */
function ioptInsertArea(iopt: IoPagetable, elm: PagesListElm, iova: bigint, prot: number): number {
  const pages = elm.pages!;
  if (prot & IOMMU_WRITE && !pages.writable) return -EPERM;
  if (Number(elm.startByte % P) & (iopt.iovaAlignment - 1)) return -EINVAL;
  const area = new IoptArea(iopt, iova, iova + elm.length - 1n, elm.startByte, prot);
  if (area.last > ULONG_MAX) return -EOVERFLOW;
  insertSorted(iopt.areas, area);
  elm.area = area;
  return 0;
}

/** iopt_alloc_area_pages: allocate areas, pick or check the IOVA, insert areas with pages = NULL. */
function ioptAllocAreaPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  for (const _elm of list) if (iopt.faults.shouldFail()) return -ENOMEM; // iopt_area_alloc
  if (length & BigInt(iopt.iovaAlignment - 1) || !length) return -EINVAL;
  if (flags & IOPT_ALLOC_IOVA) {
    const first = list[0]!;
    const uptr = first.pages!.uptr + first.startByte;
    const r = ioptAllocIova(iopt, uptr, length);
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
    const rc = ioptInsertArea(iopt, elm, iova, prot);
    if (rc) return rc;
    iova += elm.length;
  }
  return 0;
}

/** iopt_abort_area */
function ioptAbortArea(area: IoptArea): void {
  const areas = area.iopt.areas;
  const i = areas.indexOf(area);
  if (i >= 0) areas.splice(i, 1);
}

/** iopt_free_pages_list: abort unfinished areas and drop the list's pages references. */
export function ioptFreePagesList(list: PagesListElm[]): void {
  for (const elm of list) {
    if (elm.area) ioptAbortArea(elm.area);
    if (elm.pages) ioptPutPages(elm.pages);
    elm.area = null;
    elm.pages = null;
  }
  list.length = 0;
}

/** iopt_map_pages: on success the areas take the list's pages references. */
export function ioptMapPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  const rc = ioptAllocAreaPages(iopt, list, length, dstIova, prot, flags);
  if (rc) return rc;
  // iopt_fill_domains_pages
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

/**
 * iopt_map_user_pages: map user memory at a fixed or automatic IOVA. The
 * pages are pinned now only if the IOAS has domains. `accountMM` is the
 * ctx's RLIMIT_MODE (IOPT_PAGES_ACCOUNT_MM). Returns the IOVA.
 */
export function ioptMapUserPages(
  iopt: IoPagetable,
  proc: Process,
  accountMM: boolean,
  iova: bigint,
  uptr: bigint,
  length: bigint,
  prot: number,
  flags: number,
  profile: Profile = '6.12',
): Result<bigint> {
  const r = ioptAllocPages(proc, uptr, length, (prot & IOMMU_WRITE) !== 0, profile);
  if (r.errno) return err(r.errno);
  const pages = r.value!;
  if (accountMM && pages.accountMode === 'USER') pages.accountMode = 'MM';
  const list: PagesListElm[] = [{ pages, area: null, startByte: uptr - pages.uptr, length }];
  const unwind = new Unwind();
  unwind.onError('out_unpin', () => ioptFreePagesList(list));
  const dst = { iova };
  const rc = ioptMapPages(iopt, list, length, dst, prot, flags);
  if (rc) return unwind.exit(err(rc));
  return unwind.exit(ok(dst.iova));
}

/**
 * iopt_get_pages: references to the pages under [iova, iova+length-1], which
 * must be fully covered by contiguous populated areas (ENOENT otherwise).
 */
export function ioptGetPages(iopt: IoPagetable, iova: bigint, length: bigint, list: PagesListElm[]): number {
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
    list.push({ pages: area.pages, area: null, startByte: ioptAreaStartByte(area, cur), length: pieceLast - cur + 1n });
  }
  return unwind.exit(done ? 0 : -ENOENT);
}

// -- unmap --------------------------------------------------------------------

/**
 * iopt_unmap_iova_range: remove every area inside [start, last] in IOVA order.
 * An area crossing the boundary -> ENOENT (no splitting), an area being built
 * -> EBUSY, both after the earlier areas are already gone. Areas pinned by
 * accesses are marked prevent_access and the accesses told to unpin; then the
 * walk restarts, at most 100 times per area (EDEADLOCK).
 */
export function ioptUnmapIovaRange(iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }): number {
  let tries = 0;
  unmapped.bytes = 0n;
  for (;;) {
    const area = ioptAreaIterFirst(iopt, start, last);
    if (!area) return 0;
    const areaFirst = area.start;
    const areaLast = area.last;
    // Userspace should not race map/unmap's of the same area.
    if (!area.pages) return -EBUSY;
    // 7.3: the area is locked by an object that has not been destroyed (an
    // internal access: a HW_QUEUE's pages). Checked before the range, so an
    // unmap that cuts a locked area is EBUSY, not ENOENT (io_pagetable.c
    // iopt_unmap_iova_range). 6.12 has no num_locks (never set there).
    if (area.numLocks) return -EBUSY;
    if (areaFirst < start || areaLast > last) return -ENOENT;
    if (areaFirst !== start) tries = 0;
    if (area.numAccesses) {
      start = areaFirst;
      area.preventAccess = true;
      iommufdAccessNotifyUnmap(iopt, areaFirst, area.length);
      tries++;
      if (tries > 100) return -EDEADLOCK;
      continue;
    }
    const pages = area.pages;
    area.pages = null;
    ioptAreaUnfillDomains(iopt, area, pages);
    ioptAbortArea(area);
    ioptPutPages(pages);
    unmapped.bytes += areaLast - areaFirst + 1n;
    if (areaLast >= last) return 0;
    start = areaLast + 1n;
  }
}

/** iommufd_access_notify_unmap: every access of the IOAS is told about the range. */
function iommufdAccessNotifyUnmap(iopt: IoPagetable, iova: bigint, length: bigint): void {
  for (const access of [...iopt.accessList.values()]) access.notifyUnmap(iova, length);
}

/** iopt_unmap_iova: EINVAL for length 0, EOVERFLOW on wrap. */
export function ioptUnmapIova(iopt: IoPagetable, iova: bigint, length: bigint, unmapped: { bytes: bigint }): number {
  if (!length) return -EINVAL;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  return ioptUnmapIovaRange(iopt, iova, last, unmapped);
}

/** iopt_unmap_all: succeeds on an empty IOAS. */
export function ioptUnmapAll(iopt: IoPagetable, unmapped: { bytes: bigint }): number {
  return ioptUnmapIovaRange(iopt, 0n, ULONG_MAX, unmapped);
}

// -- allowed and reserved ranges ------------------------------------------------

/** iopt_set_allow_iova: swap in the new list unless a range hits a reserved one (EADDRINUSE). */
export function ioptSetAllowIova(iopt: IoPagetable, allowed: Range[]): number {
  for (const a of allowed) if (reservedIterFirst(iopt, a.start, a.last)) return -EADDRINUSE;
  iopt.allowed = [...allowed].sort((a, b) => (a.start < b.start ? -1 : 1));
  return 0;
}

/** iopt_reserve_iova: EADDRINUSE when an area or an allowed range intersects. */
export function ioptReserveIova(iopt: IoPagetable, start: bigint, last: bigint, owner: unknown): number {
  if (ioptAreaIterFirst(iopt, start, last) || allowedIterFirst(iopt, start, last)) return -EADDRINUSE;
  if (iopt.faults.shouldFail()) return -ENOMEM;
  iopt.reserved.push({ start, last, owner });
  return 0;
}

/** iopt_remove_reserved_iova: drop every reserved range of `owner`. */
export function ioptRemoveReservedIova(iopt: IoPagetable, owner: unknown): void {
  iopt.reserved = iopt.reserved.filter((r) => r.owner !== owner);
}

/** A reserved region of a device (struct iommu_resv_region), inclusive. */
export interface ResvRegion {
  readonly start: bigint;
  readonly last: bigint;
  readonly type: 'direct' | 'direct-relaxable' | 'reserved' | 'msi' | 'sw-msi';
}

/**
 * iopt_table_enforce_dev_resv_regions: reserve each of the device's regions
 * (except DIRECT_RELAXABLE) for `owner`; all or nothing. Its
 * iommufd_should_fail site gives EINVAL.
 */
export function ioptTableEnforceDevResvRegions(iopt: IoPagetable, regions: readonly ResvRegion[], owner: unknown): number {
  if (iopt.faults.shouldFail()) return -EINVAL;
  const unwind = new Unwind();
  unwind.onError('out_reserved', () => ioptRemoveReservedIova(iopt, owner));
  for (const r of regions) {
    if (r.type === 'direct-relaxable') continue;
    const rc = ioptReserveIova(iopt, r.start, r.last, owner);
    if (rc) return unwind.exit(rc);
  }
  return unwind.exit(0);
}

// -- alignment ----------------------------------------------------------------

function minPgsize(bitmap: bigint): number {
  return Number(lowestBit(bitmap));
}

/** iopt_check_iova_alignment: EADDRINUSE if an area would be misaligned. */
function ioptCheckIovaAlignment(iopt: IoPagetable, newAlignment: number): number {
  const mask = BigInt(newAlignment - 1);
  for (const a of iopt.areas) if (a.start & mask || a.length & mask || BigInt(a.pageOffset) & mask) return -EADDRINUSE;
  return 0;
}

/** iopt_calculate_iova_alignment */
function ioptCalculateIovaAlignment(iopt: IoPagetable): number {
  let align = iopt.disableLargePages ? PAGE_SIZE : 1;
  for (const d of iopt.domains) align = Math.max(align, minPgsize(d.pgsizeBitmap));
  for (const a of iopt.accessList.values()) align = Math.max(align, a.iovaAlignment);
  if (align > iopt.iovaAlignment) {
    const rc = ioptCheckIovaAlignment(iopt, align);
    if (rc) return rc;
  }
  iopt.iovaAlignment = align;
  return 0;
}

/** iopt_disable_large_pages: EINVAL with both domains and areas; EADDRINUSE if areas are not P-aligned. */
export function ioptDisableLargePages(iopt: IoPagetable): number {
  if (iopt.disableLargePages) return 0;
  if (iopt.domains.length && iopt.areas.length) return -EINVAL;
  const unwind = new Unwind();
  iopt.disableLargePages = true;
  unwind.onError('WRITE_ONCE(disable_large_pages, false)', () => (iopt.disableLargePages = false));
  return unwind.exit(ioptCalculateIovaAlignment(iopt));
}

/** iopt_enable_large_pages */
export function ioptEnableLargePages(iopt: IoPagetable): void {
  iopt.disableLargePages = false;
  ioptCalculateIovaAlignment(iopt);
}

// -- domains ------------------------------------------------------------------

/**
 * iopt_fill_domain: map every populated area into a new domain. The first
 * domain pins (areas become `filled`); later ones reuse the pinned frames.
 * On failure the areas already done are unfilled again.
 */
function ioptFillDomain(iopt: IoPagetable, domain: IoptDomain): number {
  const first = iopt.domains.length === 0;
  const unwind = new Unwind();
  for (const area of iopt.areas) {
    if (!area.pages) continue;
    const rc = ioptAreaFillDomain(iopt, area, domain, first);
    if (rc) return unwind.exit(rc);
    unwind.onError('out_unfill', () => ioptAreaUnfillDomain(area, domain, first));
  }
  return unwind.exit(0);
}

/**
 * iopt_table_add_domain: the domain's smallest page size raises the IOVA
 * alignment (EINVAL above PAGE_SIZE, EADDRINUSE if areas would be
 * misaligned); the space outside its aperture becomes reserved (EADDRINUSE
 * against areas/allowed ranges); every area is mapped into it. All or nothing.
 */
export function ioptTableAddDomain(iopt: IoPagetable, domain: IoptDomain): number {
  if (iopt.domains.includes(domain)) return -EEXIST;
  const newAlignment = Math.max(minPgsize(domain.pgsizeBitmap), iopt.iovaAlignment);
  if (newAlignment > PAGE_SIZE) return -EINVAL;
  let rc: number;
  if (newAlignment !== iopt.iovaAlignment) {
    rc = ioptCheckIovaAlignment(iopt, newAlignment);
    if (rc) return rc;
  }
  const unwind = new Unwind();
  unwind.onError('out_reserved', () => ioptRemoveReservedIova(iopt, domain));
  if (domain.apertureStart !== 0n) {
    rc = ioptReserveIova(iopt, 0n, domain.apertureStart - 1n, domain);
    if (rc) return unwind.exit(rc);
  }
  if (domain.apertureEnd !== ULONG_MAX) {
    rc = ioptReserveIova(iopt, domain.apertureEnd + 1n, ULONG_MAX, domain);
    if (rc) return unwind.exit(rc);
  }
  if (iopt.faults.shouldFail()) return unwind.exit(-ENOMEM); // xa_reserve (its xa_release is modelled by not storing)
  rc = ioptFillDomain(iopt, domain);
  if (rc) return unwind.exit(rc);
  iopt.iovaAlignment = newAlignment;
  iopt.domains.push(domain);
  return unwind.exit(0);
}

/** iopt_table_remove_domain: unmap everything from it, unpin with the last domain, drop its reservations. */
export function ioptTableRemoveDomain(iopt: IoPagetable, domain: IoptDomain): void {
  const i = iopt.domains.indexOf(domain);
  if (i < 0) throw new Error('iopt_table_remove_domain: domain not in the table');
  iopt.domains.splice(i, 1);
  const last = iopt.domains.length === 0;
  for (const area of iopt.areas) if (area.pages) ioptAreaUnfillDomain(area, domain, last);
  ioptRemoveReservedIova(iopt, domain);
  ioptCalculateIovaAlignment(iopt);
}

// -- accesses -----------------------------------------------------------------

/** iopt_add_access: xa_alloc in the access list (xa_limit_16b), then the alignment (EADDRINUSE). */
export function ioptAddAccess(iopt: IoPagetable, access: IoptAccess): number {
  if (iopt.faults.shouldFail()) return -ENOMEM;
  let id = 0;
  while (iopt.accessList.has(id)) id++;
  if (id > 0xffff) return -EBUSY;
  const unwind = new Unwind();
  iopt.accessList.set(id, access);
  unwind.onError('xa_erase(access_list)', () => iopt.accessList.delete(id));
  const rc = ioptCalculateIovaAlignment(iopt);
  if (rc) return unwind.exit(rc);
  access.ioptAccessListId = id;
  return unwind.exit(0);
}

/** iopt_remove_access: the slot is the caller's (iommufd_access_change_ioas reads it before iopt_add_access replaces it). */
export function ioptRemoveAccess(iopt: IoPagetable, ioptAccessListId: number): void {
  iopt.accessList.delete(ioptAccessListId);
  ioptCalculateIovaAlignment(iopt);
}

// -- VFIO type1 v1 splitting ------------------------------------------------------

/**
 * iopt_area_split: split `area` after `iova`. EBUSY while torn down; EINVAL
 * for a misaligned cut, an area with accesses, or huge pages possibly in use
 * (a domain holds it and large pages are enabled); ENOMEM (allocations).
 */
function ioptAreaSplit(iopt: IoPagetable, area: IoptArea, iova: bigint): number {
  const alignment = BigInt(iopt.iovaAlignment);
  const newStart = iova + 1n;
  if (iova === area.start || iova === area.last) return 0;
  if (!area.pages || area.preventAccess) return -EBUSY;
  if (newStart & (alignment - 1n) || ioptAreaStartByte(area, newStart) & (alignment - 1n)) return -EINVAL;
  if (iopt.faults.shouldFail()) return -ENOMEM; // lhs
  if (iopt.faults.shouldFail()) return -ENOMEM; // rhs
  if (area.numAccesses) return -EINVAL;
  if (area.filled && !iopt.disableLargePages) return -EINVAL;
  const lhs = new IoptArea(iopt, area.start, newStart - 1n, area.startByte, area.iommuProt);
  const rhs = new IoptArea(iopt, newStart, area.last, ioptAreaStartByte(area, newStart), area.iommuProt);
  lhs.pages = area.pages;
  rhs.pages = area.pages;
  ioptGetPagesRef(area.pages);
  // The pins held for the domains move to the halves: a page shared by both
  // halves (a cut inside a page) takes one more hold.
  if (area.filled) {
    lhs.filled = true;
    rhs.filled = true;
    if (lhs.lastIndex === rhs.firstIndex) {
      const held = ioptPagesHold(area.pages, rhs.firstIndex, rhs.firstIndex);
      if (held.errno) throw new Error('re-holding a pinned page cannot fail');
    }
  }
  const i = iopt.areas.indexOf(area);
  iopt.areas.splice(i, 1, lhs, rhs);
  return 0;
}

/** iopt_cut_iova: make each iova an area boundary (VFIO type1 v1 partial unmap). */
export function ioptCutIova(iopt: IoPagetable, iovas: readonly bigint[]): number {
  for (const iova of iovas) {
    const area = ioptAreaIterFirst(iopt, iova, iova);
    if (!area) continue;
    const rc = ioptAreaSplit(iopt, area, iova);
    if (rc) return rc;
  }
  return 0;
}

/** iopt_destroy_table (after iopt_unmap_all): test reservations (owner NULL) and allowed ranges go. */
export function ioptDestroyTable(iopt: IoPagetable): void {
  ioptRemoveReservedIova(iopt, null);
  iopt.allowed = [];
}
