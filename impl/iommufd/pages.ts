/**
 * Pinning: what drivers/iommu/iommufd/pages.c does for an iopt_pages and the
 * areas built on it. iopt_alloc_pages, iopt_put_pages, the pin/charge path of
 * the pfn reader (pfn_reader_user_pin, pfn_reader_user_update_pinned,
 * do_update_pinned, incr_user_locked_vm, update_mm_locked_vm), filling and
 * unfilling domains from an area (iopt_area_fill_domain,
 * iopt_area_fill_domains, iopt_area_unfill_domains, iopt_area_unmap_domain),
 * in-kernel accesses (iopt_area_add_access, iopt_area_remove_access) and
 * iopt_pages_rw_access. The structs are iommufd_private.ts's.
 *
 * Each page index is pinned once however many holders need it (every area of
 * the pages while the IOAS has a domain, and every in-kernel access range), as
 * the kernel pins once per iopt_pages (domains_itree/access_itree). Separate
 * maps of the same user VA are separate iopt_pages and pin twice.
 *
 * Accounting (account_mode): NONE when the mapping process had CAP_IPC_LOCK;
 * USER (per-user locked_vm against RLIMIT_MEMLOCK, io_uring style) or MM
 * (mm->locked_vm, VFIO style, when the ctx is in RLIMIT_MODE 1 or opened as
 * /dev/vfio/vfio). mm->pinned_vm counts every pin. Over the limit -> -ENOMEM
 * and everything just pinned is unpinned.
 *
 * Public API: ioptAllocPages, ioptGetPagesRef, ioptPutPages, ioptPagesHold,
 * ioptPagesRelease, ioptAreaFillDomain, ioptAreaFillDomains,
 * ioptAreaUnfillDomains, ioptAreaUnmapDomain, ioptAreaUnfillDomain,
 * ioptAreaAddAccess, ioptAreaRemoveAccess, ioptPagesRwAccess.
 */
import type { Process } from '../process/process.ts';
import { EFAULT, EINVAL, ENOMEM, EOVERFLOW, EPERM } from '../lib/errno.ts';
import { err, ok, type Result } from './object.ts';
import { Unwind } from '../lib/unwind.ts';
import {
  type IoPagetable,
  type IoptArea,
  type IoptDomain,
  IoptPages,
  type IoptPagesAccess,
  PAGE_SIZE,
  type Profile,
  ULONG_MAX,
} from './iommufd_private.ts';

const PAGE_SIZE_N = BigInt(PAGE_SIZE);
/** SIZE_MAX - PAGE_SIZE: iopt_alloc_pages' length bound. */
const MAX_PAGES_LENGTH = ULONG_MAX - PAGE_SIZE_N;

// ---- pin and charge ------------------------------------------------------------------

/** Pages per pin_user_pages call (the kernel's pfn_reader pins a batch of up to a page of page pointers). */
const PIN_BATCH = 512;

/**
 * Take one hold on each index of [start, last]; pin the ones not yet pinned
 * (in runs of up to PIN_BATCH; a run holding a page that cannot be pinned is
 * pinned page by page up to it and fails there, so a huge bogus range fails
 * fast), then charge them; all or nothing. The frames, one per index, or a
 * negative errno. With `charge: 'later'` the caller charges them with
 * ioptPagesCharge once it has put them to use, as the pfn reader does when it
 * fills domains (pages.c: "Changes in the number of pages pinned is done
 * after the pages have been read and processed"): a map's error then wins
 * over RLIMIT_MEMLOCK's ENOMEM.
 */
export function ioptPagesHold(pages: IoptPages, start: number, last: number, charge: 'now' | 'later' = 'now'): Result<number[]> {
  const proc = pages.proc;
  const fresh = new Map<number, number>();
  const unwind = new Unwind();
  let checkedFaults = false;
  for (let i = start; i <= last; i++) {
    if (pages.pinned.has(i)) continue;
    if (!checkedFaults) {
      checkedFaults = true;
      if (proc.faults.shouldFail()) return err(-ENOMEM); // temp_kmalloc of the upages array
      if (proc.faults.shouldFail()) return err(-EFAULT); // pfn_reader_user_pin's iommufd_should_fail
      unwind.onError('err_unpin', () => {
        for (const pfn of fresh.values()) proc.unpinUserPage(pfn);
      });
    }
    // A run of indices not pinned yet from i, pinned in one call when every page of it can be (bounded, as the
    // kernel's batches are, so a huge bogus range still fails at its first page).
    let end = i;
    while (end < last && end - i < PIN_BATCH - 1 && !pages.pinned.has(end + 1)) end++;
    const r = proc.pinUserPages(pages.uptr + BigInt(i) * PAGE_SIZE_N, end - i + 1, pages.writable);
    if (r.errno === 0 && 'pfns' in r) {
      for (let j = i; j <= end; j++) fresh.set(j, r.pfns[j - i]!);
      i = end;
      continue;
    }
    // Some page of the run cannot be pinned: GUP pins the pages before it (pin_user_pages returns the
    // count pinned), pfn_reader keeps them, and the next batch fails at the bad page (-EFAULT), so the
    // error path has those pins to release. Page by page here, as that.
    for (; i <= end; i++) {
      const one = proc.pinUserPages(pages.uptr + BigInt(i) * PAGE_SIZE_N, 1, pages.writable);
      if (one.errno !== 0 || !('pfns' in one)) return unwind.exit(err(-EFAULT));
      fresh.set(i, one.pfns[0]!);
    }
    return unwind.exit(err(-EFAULT)); // unreachable: the run had a page that cannot be pinned
  }
  if (fresh.size) {
    pages.npinned += fresh.size;
    unwind.onError('err_npinned', () => (pages.npinned -= fresh.size));
    const rc = charge === 'now' ? updatePinned(pages) : 0;
    if (rc) return unwind.exit(err(rc));
  }
  unwind.exit(0);
  const pfns: number[] = [];
  for (let i = start; i <= last; i++) {
    const cur = pages.pinned.get(i);
    if (cur) {
      cur.holders++;
      pfns.push(cur.pfn);
    } else {
      const pfn = fresh.get(i)!;
      pages.pinned.set(i, { pfn, holders: 1 });
      pfns.push(pfn);
    }
  }
  return ok(pfns);
}

/** Drop one hold on each index of [start, last]; unpin and uncharge what nobody holds. */
export function ioptPagesRelease(pages: IoptPages, start: number, last: number): void {
  let unpinned = 0;
  for (let i = start; i <= last; i++) {
    const cur = pages.pinned.get(i);
    if (!cur) throw new Error(`release of unpinned page index ${i}`);
    cur.holders--;
    if (cur.holders === 0) {
      pages.pinned.delete(i);
      pages.proc.unpinUserPage(cur.pfn);
      unpinned++;
    }
  }
  if (unpinned) {
    pages.npinned -= unpinned;
    updateUnpinned(pages);
  }
}

/**
 * pfn_reader_update_pinned after an ioptPagesHold(…, 'later'): charge what it
 * pinned; on failure the caller's unwind releases the hold (whose unpin then
 * has nothing to uncharge).
 */
export function ioptPagesCharge(pages: IoptPages): number {
  return updatePinned(pages);
}

/** pfn_reader_user_update_pinned for an increase: fault site, then do_update_pinned. */
function updatePinned(pages: IoptPages): number {
  if (pages.npinned === pages.lastNpinned) return 0;
  if (pages.proc.faults.shouldFail()) return -ENOMEM;
  return doUpdatePinned(pages, pages.npinned - pages.lastNpinned, true);
}

/** update_unpinned */
function updateUnpinned(pages: IoptPages): void {
  if (pages.npinned === pages.lastNpinned) return;
  doUpdatePinned(pages, pages.lastNpinned - pages.npinned, false);
}

/** do_update_pinned: charge per account_mode, then mm->pinned_vm. */
function doUpdatePinned(pages: IoptPages, npages: number, inc: boolean): number {
  const proc = pages.proc;
  switch (pages.accountMode) {
    case 'NONE':
      break;
    case 'USER': // incr_user_locked_vm / decr_user_locked_vm
      if (inc) {
        if (proc.user.lockedVm + npages > proc.rlimitMemlockPages()) return -ENOMEM;
        proc.user.lockedVm += npages;
      } else proc.user.lockedVm -= Math.min(npages, proc.user.lockedVm);
      break;
    case 'MM': // __account_locked_vm(mm, npages, inc, task, false)
      if (inc) {
        if (proc.lockedVm + npages > proc.rlimitMemlockPages()) return -ENOMEM;
        proc.lockedVm += npages;
      } else proc.lockedVm -= Math.min(npages, proc.lockedVm);
      break;
  }
  pages.lastNpinned = pages.npinned;
  proc.pinnedVm += inc ? npages : -npages;
  return 0;
}

// ---- struct iopt_pages lifetime ----------------------------------------------------------

/**
 * iopt_alloc_pages (6.12) / iopt_alloc_user_pages (7.3): -EINVAL for length 0
 * or > SIZE_MAX - PAGE_SIZE, -EOVERFLOW when uptr + length wraps -- 6.12
 * checks the length first, 7.3 the wrap first -- then -ENOMEM (allocation).
 * Records the calling process and its accounting mode (NONE with
 * CAP_IPC_LOCK, else USER).
 */
export function ioptAllocPages(proc: Process, uptr: bigint, length: bigint, writable: boolean, profile: Profile = '6.12'): Result<IoptPages> {
  const badLength = length > MAX_PAGES_LENGTH || length === 0n;
  const wraps = uptr + length > ULONG_MAX;
  if (profile === '7.3' && wraps) return err(-EOVERFLOW);
  if (badLength) return err(-EINVAL);
  if (wraps) return err(-EOVERFLOW);
  if (proc.faults.shouldFail()) return err(-ENOMEM);
  const base = uptr - (uptr % PAGE_SIZE_N);
  const npages = Number((length + (uptr - base) + PAGE_SIZE_N - 1n) / PAGE_SIZE_N);
  return ok(new IoptPages(proc, base, npages, writable, proc.capable('CAP_IPC_LOCK') ? 'NONE' : 'USER'));
}

export function ioptGetPagesRef(pages: IoptPages): void {
  pages.kref++;
}

/**
 * iopt_put_pages -> iopt_release_pages when the last area/list drops it. Pages
 * still pinned then are a caller's refcount bug: the kernel WARNs
 * (WARN_ON(pages->npinned), WARN_ON(!xa_empty(&pages->pinned_pfns))) and
 * frees the struct anyway, so the pins leak, still pinned and charged. The
 * reference records the warning and goes on (it never throws).
 */
export function ioptPutPages(pages: IoptPages): void {
  pages.kref--;
  if (pages.kref === 0 && (pages.pinnedCount !== 0 || pages.accesses.length !== 0)) {
    pages.proc.warnings.push(`iopt_release_pages: released with ${pages.pinnedCount} page(s) pinned and ${pages.accesses.length} access(es)`);
  }
}

// ---- an area's pages in the domains --------------------------------------------------------

/**
 * batch_to_domain over the whole area: map its bytes into `domain` from the
 * pinned frames, physically contiguous runs at once (one page at a time with
 * large pages disabled); nothing stays mapped on failure.
 */
export function areaMapDomain(iopt: IoPagetable, area: IoptArea, pages: IoptPages, domain: IoptDomain): number {
  const first = area.firstIndex;
  const lastIdx = area.lastIndex;
  const endByte = area.startByte + area.length; // exclusive
  const maxChunk = iopt.disableLargePages ? PAGE_SIZE : Number.MAX_SAFE_INTEGER;
  let mapped = 0n;
  let runIova = area.start;
  let runPa = -1;
  let runSize = 0;
  const flush = (): number => {
    if (runSize === 0) return 0;
    const rc = domain.map(runIova, runPa, runSize, area.iommuProt);
    if (rc) return rc;
    mapped += BigInt(runSize);
    return 0;
  };
  const unwind = new Unwind();
  unwind.onError('out_unmap', () => {
    if (mapped) domain.unmap(area.start, Number(mapped));
  });
  for (let i = first; i <= lastIdx; i++) {
    const pageStart = BigInt(i) * PAGE_SIZE_N;
    const from = i === first ? area.pageOffset : 0;
    const to = i === lastIdx ? Number(endByte - pageStart) : PAGE_SIZE; // exclusive
    const pa = pages.pinnedPfn(i)! * PAGE_SIZE + from;
    const size = to - from;
    if (runSize > 0 && runPa + runSize === pa && runSize + size <= maxChunk) {
      runSize += size;
      continue;
    }
    const rc = flush();
    if (rc) return unwind.exit(rc);
    runIova = area.start + mapped;
    runPa = pa;
    runSize = size;
  }
  return unwind.exit(flush());
}

/** iopt_area_unmap_domain */
export function ioptAreaUnmapDomain(area: IoptArea, domain: IoptDomain): void {
  domain.unmap(area.start, Number(area.length));
}

/**
 * iopt_area_fill_domain: map a populated area into a domain being added to
 * the IOAS. The first domain of the IOAS pins the pages (the area becomes
 * `filled`); later ones reuse the pinned frames. Nothing stays on failure.
 */
export function ioptAreaFillDomain(iopt: IoPagetable, area: IoptArea, domain: IoptDomain, firstDomain: boolean): number {
  const pages = area.pages!;
  if (!firstDomain) return areaMapDomain(iopt, area, pages, domain);
  const held = ioptPagesHold(pages, area.firstIndex, area.lastIndex, 'later');
  if (held.errno) return held.errno;
  const unwind = new Unwind();
  unwind.onError('out_unpin', () => ioptPagesRelease(pages, area.firstIndex, area.lastIndex));
  let rc = areaMapDomain(iopt, area, pages, domain);
  if (rc) return unwind.exit(rc);
  unwind.onError('out_unmap', () => ioptAreaUnmapDomain(area, domain));
  rc = ioptPagesCharge(pages);
  if (rc) return unwind.exit(rc);
  area.filled = true;
  return unwind.exit(0);
}

/**
 * iopt_area_unfill_domain: unmap an area from a domain leaving the IOAS; the
 * last domain unpins.
 */
export function ioptAreaUnfillDomain(area: IoptArea, domain: IoptDomain, lastDomain: boolean): void {
  ioptAreaUnmapDomain(area, domain);
  if (lastDomain && area.filled) {
    ioptPagesRelease(area.pages!, area.firstIndex, area.lastIndex);
    area.filled = false;
  }
}

/**
 * iopt_area_fill_domains: pin a new area's pages once and map them into every
 * domain of the IOAS; on failure nothing is left mapped or pinned.
 */
export function ioptAreaFillDomains(iopt: IoPagetable, area: IoptArea, pages: IoptPages): number {
  if (iopt.domains.length === 0) return 0;
  const held = ioptPagesHold(pages, area.firstIndex, area.lastIndex, 'later');
  if (held.errno) return held.errno;
  const unwind = new Unwind();
  unwind.onError('out_unpin', () => ioptPagesRelease(pages, area.firstIndex, area.lastIndex));
  for (const domain of iopt.domains) {
    const rc = areaMapDomain(iopt, area, pages, domain);
    if (rc) return unwind.exit(rc);
    unwind.onError('out_unmap', () => ioptAreaUnmapDomain(area, domain));
  }
  const rc = ioptPagesCharge(pages);
  if (rc) return unwind.exit(rc);
  area.filled = true;
  return unwind.exit(0);
}

/** iopt_area_unfill_domains: unmap the area from every domain and unpin. */
export function ioptAreaUnfillDomains(iopt: IoPagetable, area: IoptArea, pages: IoptPages): void {
  if (!area.filled) return;
  for (const domain of iopt.domains) ioptAreaUnmapDomain(area, domain);
  ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
  area.filled = false;
}

// ---- in-kernel accesses ------------------------------------------------------------------

/** iopt_pages_get_exact_access */
function getExactAccess(pages: IoptPages, start: number, last: number): IoptPagesAccess | undefined {
  return pages.accesses.find((a) => a.start === start && a.last === last);
}

/**
 * iopt_area_add_access: -EPERM for a write access to read-only pages; reuse
 * an exact range or allocate one (-ENOMEM) and pin it. Counts the access on
 * the area (num_accesses; num_locks for an internal access, 7.3's lock_area).
 * The frames, one per page index.
 */
export function ioptAreaAddAccess(area: IoptArea, start: number, last: number, write: boolean, lockArea = false): Result<number[]> {
  const pages = area.pages!;
  if (write && !pages.writable) return err(-EPERM);
  const exact = getExactAccess(pages, start, last);
  let pfns: number[];
  if (exact) {
    exact.users++;
    pfns = [];
    for (let i = start; i <= last; i++) pfns.push(pages.pinnedPfn(i)!);
  } else {
    if (pages.proc.faults.shouldFail()) return err(-ENOMEM); // kzalloc(access)
    const held = ioptPagesHold(pages, start, last);
    if (held.errno) return held;
    pages.accesses.push({ start, last, users: 1 });
    pfns = held.value!;
  }
  area.numAccesses++;
  if (lockArea) area.numLocks++;
  return ok(pfns);
}

/** iopt_area_remove_access: undo a matching ioptAreaAddAccess (`unlockArea` as its `lockArea`). */
export function ioptAreaRemoveAccess(area: IoptArea, start: number, last: number, unlockArea = false): void {
  const pages = area.pages!;
  const exact = getExactAccess(pages, start, last);
  if (!exact) throw new Error(`no access range [${start}, ${last}]`);
  if (unlockArea) area.numLocks--;
  area.numAccesses--;
  exact.users--;
  if (exact.users) return;
  pages.accesses.splice(pages.accesses.indexOf(exact), 1);
  ioptPagesRelease(pages, start, last);
}

/** copy_data_page over one frame. */
function copyFrame(pages: IoptPages, pfn: number, off: number, data: Uint8Array, write: boolean): void {
  const pa = pfn * PAGE_SIZE + off;
  if (write) pages.proc.phys.u8.set(data, pa);
  else data.set(pages.proc.phys.u8.subarray(pa, pa + data.length));
}

/**
 * iopt_pages_rw_access: copy between `data` and the pages' bytes from
 * start_byte. -EPERM for a write to read-only pages. The fast path (the
 * caller's own mm) is copy_to_user/copy_from_user on the user address, so it
 * faults (-EFAULT) where the mapping is gone or lacks the permission, pinned
 * or not. The slow path (another mm; the selftest's SLOW_PATH flag) reads the
 * frames: one page through pin_user_pages_remote (iopt_pages_rw_page),
 * several through the pfn reader (iopt_pages_rw_slow), which uses pinned
 * frames and otherwise pins and unpins, uncharged.
 */
export function ioptPagesRwAccess(pages: IoptPages, startByte: number, data: Uint8Array, write: boolean, slowPath = false): number {
  const proc = pages.proc;
  const startIndex = Math.floor(startByte / PAGE_SIZE);
  const lastIndex = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
  if (write && !pages.writable) return -EPERM;
  if (!slowPath) {
    const va = pages.uptr + BigInt(startByte);
    if (write) return proc.copyToUser(va, data) ? 0 : -EFAULT;
    const b = proc.copyFromUser(va, data.length);
    if (!b) return -EFAULT;
    data.set(b);
    return 0;
  }
  if (startIndex === lastIndex) {
    // iopt_pages_rw_page
    if (proc.faults.shouldFail()) return -EINVAL;
    const r = proc.pinUserPages(pages.uptr + BigInt(startIndex) * PAGE_SIZE_N, 1, write);
    if (r.errno || !('pfns' in r)) return r.errno || -EFAULT;
    copyFrame(pages, r.pfns[0]!, startByte % PAGE_SIZE, data, write);
    proc.unpinUserPage(r.pfns[0]!);
    return 0;
  }
  // iopt_pages_rw_slow: the pfn reader holds the range while copying, and charges nothing (it never
  // calls update_pinned: the pages it pinned are unpinned before it returns, npinned back where it was).
  const held = ioptPagesHold(pages, startIndex, lastIndex, 'later');
  if (held.errno) return held.errno;
  let done = 0;
  for (let i = startIndex; i <= lastIndex; i++) {
    const off = i === startIndex ? startByte % PAGE_SIZE : 0;
    const n = Math.min(PAGE_SIZE - off, data.length - done);
    copyFrame(pages, held.value![i - startIndex]!, off, data.subarray(done, done + n), write);
    done += n;
  }
  ioptPagesRelease(pages, startIndex, lastIndex);
  return 0;
}
