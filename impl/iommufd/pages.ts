/**
 * iopt_pages: the pinned-PFN source behind one IOAS_MAP (shared by the areas
 * IOAS_COPY makes from it). Mirrors drivers/iommu/iommufd/pages.c:
 * iopt_alloc_pages, iopt_put_pages, the pin/charge path of pfn_reader
 * (pfn_reader_user_pin, pfn_reader_user_update_pinned, do_update_pinned,
 * incr_user_locked_vm, update_mm_locked_vm), iopt_area_add_access /
 * iopt_area_remove_access and iopt_pages_rw_access.
 *
 * Pinning: each page index is pinned once however many holders need it (every
 * area of the pages while the IOAS has a domain, and every in-kernel access
 * range), as the kernel pins once per iopt_pages (domains_itree/access_itree).
 * Separate maps of the same user VA are separate iopt_pages and pin twice.
 *
 * Accounting (account_mode): NONE when the mapping process had CAP_IPC_LOCK;
 * USER (per-user locked_vm against RLIMIT_MEMLOCK, io_uring style) or MM
 * (mm->locked_vm, VFIO style, when the ctx is in RLIMIT_MODE 1 or opened as
 * /dev/vfio/vfio). mm->pinned_vm counts every pin. Over the limit -> ENOMEM and
 * everything just pinned is unpinned.
 *
 * Public API: class IoptPages, ioptAllocPages, ioptPutPages, ioptPagesHold,
 * ioptPagesRelease, ioptPagesAddAccess, ioptPagesRemoveAccess,
 * ioptPagesRwAccess, PAGE_SIZE.
 */
import type { Process } from '../process/process.ts';
import { EFAULT, EINVAL, ENOMEM, EOVERFLOW, EPERM } from './errno.ts';
import { err, ok, type Result } from './object.ts';

export const PAGE_SIZE = 4096;
const PAGE_SIZE_N = 4096n;
export const ULONG_MAX = (1n << 64n) - 1n;
/** SIZE_MAX - PAGE_SIZE: iopt_alloc_pages' length bound. */
const MAX_PAGES_LENGTH = ULONG_MAX - PAGE_SIZE_N;

export type AccountMode = 'NONE' | 'USER' | 'MM';

/** struct iopt_pages_access: an exact [start,last] index range held by accesses. */
interface PagesAccess {
  readonly start: number;
  readonly last: number;
  users: number;
}

export class IoptPages {
  kref = 1;
  npinned = 0;
  lastNpinned = 0;
  /** index -> pinned frame and how many holders need it. */
  private readonly pinnedPfns = new Map<number, { pfn: number; holders: number }>();
  readonly accesses: PagesAccess[] = [];

  constructor(
    readonly proc: Process,
    /** ALIGN_DOWN(uptr, PAGE_SIZE) */
    readonly uptr: bigint,
    readonly npages: number,
    readonly writable: boolean,
    public accountMode: AccountMode,
  ) {}

  /** The pinned frame of a page index, if pinned. */
  pinnedPfn(index: number): number | undefined {
    return this.pinnedPfns.get(index)?.pfn;
  }

  get pinnedCount(): number {
    return this.pinnedPfns.size;
  }

  /**
   * Take one hold on each index of [start, last]; pin the ones not yet
   * pinned (page by page, stopping at the first that cannot be pinned, so a
   * huge bogus range fails fast), then charge them; all or nothing.
   */
  hold(start: number, last: number): Result<number[]> {
    const fresh = new Map<number, number>();
    const unwind = (errno: number): Result<number[]> => {
      for (const pfn of fresh.values()) this.proc.unpinUserPage(pfn);
      return err(errno);
    };
    let checkedFaults = false;
    for (let i = start; i <= last; i++) {
      if (this.pinnedPfns.has(i)) continue;
      if (!checkedFaults) {
        checkedFaults = true;
        const f = this.proc.faults;
        if (f.shouldFail()) return err(ENOMEM); // temp_kmalloc of the upages array
        if (f.shouldFail()) return err(EFAULT); // pfn_reader_user_pin's iommufd_should_fail
      }
      const r = this.proc.pinUserPages(this.uptr + BigInt(i) * PAGE_SIZE_N, 1, this.writable);
      if (r.errno !== 0 || !('pfns' in r)) return unwind(EFAULT);
      fresh.set(i, r.pfns[0]!);
    }
    if (fresh.size) {
      this.npinned += fresh.size;
      const rc = this.updatePinned();
      if (rc) {
        this.npinned -= fresh.size;
        return unwind(rc);
      }
    }
    const pfns: number[] = [];
    for (let i = start; i <= last; i++) {
      const cur = this.pinnedPfns.get(i);
      if (cur) {
        cur.holders++;
        pfns.push(cur.pfn);
      } else {
        const pfn = fresh.get(i)!;
        this.pinnedPfns.set(i, { pfn, holders: 1 });
        pfns.push(pfn);
      }
    }
    return ok(pfns);
  }

  /** Drop one hold on each index of [start, last]; unpin and uncharge what nobody holds. */
  release(start: number, last: number): void {
    let unpinned = 0;
    for (let i = start; i <= last; i++) {
      const cur = this.pinnedPfns.get(i);
      if (!cur) throw new Error(`release of unpinned page index ${i}`);
      cur.holders--;
      if (cur.holders === 0) {
        this.pinnedPfns.delete(i);
        this.proc.unpinUserPage(cur.pfn);
        unpinned++;
      }
    }
    if (unpinned) {
      this.npinned -= unpinned;
      this.updateUnpinned();
    }
  }

  /** pfn_reader_user_update_pinned for an increase: fault site, then do_update_pinned. */
  private updatePinned(): number {
    if (this.npinned === this.lastNpinned) return 0;
    if (this.proc.faults.shouldFail()) return ENOMEM;
    return this.doUpdatePinned(this.npinned - this.lastNpinned, true);
  }

  /** update_unpinned */
  private updateUnpinned(): void {
    if (this.npinned === this.lastNpinned) return;
    this.doUpdatePinned(this.lastNpinned - this.npinned, false);
  }

  /** do_update_pinned: charge per account_mode, then mm->pinned_vm. */
  private doUpdatePinned(npages: number, inc: boolean): number {
    const proc = this.proc;
    switch (this.accountMode) {
      case 'NONE':
        break;
      case 'USER': // incr_user_locked_vm / decr_user_locked_vm
        if (inc) {
          if (proc.user.lockedVm + npages > proc.rlimitMemlockPages()) return ENOMEM;
          proc.user.lockedVm += npages;
        } else proc.user.lockedVm -= Math.min(npages, proc.user.lockedVm);
        break;
      case 'MM': // __account_locked_vm(mm, npages, inc, task, false)
        if (inc) {
          if (proc.lockedVm + npages > proc.rlimitMemlockPages()) return ENOMEM;
          proc.lockedVm += npages;
        } else proc.lockedVm -= Math.min(npages, proc.lockedVm);
        break;
    }
    this.lastNpinned = this.npinned;
    proc.pinnedVm += inc ? npages : -npages;
    return 0;
  }
}

/**
 * iopt_alloc_pages (6.12) / iopt_alloc_user_pages (7.3): EINVAL for length 0
 * or > SIZE_MAX - PAGE_SIZE, EOVERFLOW when uptr + length wraps -- 6.12 checks
 * the length first, 7.3 the wrap first -- then ENOMEM (allocation). Records
 * the calling process and its accounting mode (NONE with CAP_IPC_LOCK, else
 * USER).
 */
export function ioptAllocPages(proc: Process, uptr: bigint, length: bigint, writable: boolean, profile: '6.12' | '7.3' = '6.12'): Result<IoptPages> {
  const badLength = length > MAX_PAGES_LENGTH || length === 0n;
  const wraps = uptr + length > ULONG_MAX;
  if (profile === '7.3' && wraps) return err(EOVERFLOW);
  if (badLength) return err(EINVAL);
  if (wraps) return err(EOVERFLOW);
  if (proc.faults.shouldFail()) return err(ENOMEM);
  const base = uptr - (uptr % PAGE_SIZE_N);
  const npages = Number((length + (uptr - base) + PAGE_SIZE_N - 1n) / PAGE_SIZE_N);
  return ok(new IoptPages(proc, base, npages, writable, proc.capable('CAP_IPC_LOCK') ? 'NONE' : 'USER'));
}

export function ioptGetPagesRef(pages: IoptPages): void {
  pages.kref++;
}

/** iopt_put_pages -> iopt_release_pages when the last area/list drops it. */
export function ioptPutPages(pages: IoptPages): void {
  pages.kref--;
  if (pages.kref === 0 && (pages.pinnedCount !== 0 || pages.accesses.length !== 0))
    throw new Error('iopt_pages released while pinned');
}

/** iopt_pages_get_exact_access */
function getExactAccess(pages: IoptPages, start: number, last: number): PagesAccess | undefined {
  return pages.accesses.find((a) => a.start === start && a.last === last);
}

/**
 * iopt_area_add_access (the pages part): EPERM for a write access to
 * read-only pages; reuse an exact range or allocate one (ENOMEM) and pin it.
 */
export function ioptPagesAddAccess(pages: IoptPages, start: number, last: number, write: boolean): Result<number[]> {
  if (write && !pages.writable) return err(EPERM);
  const exact = getExactAccess(pages, start, last);
  if (exact) {
    exact.users++;
    const pfns: number[] = [];
    for (let i = start; i <= last; i++) pfns.push(pages.pinnedPfn(i)!);
    return ok(pfns);
  }
  if (pages.proc.faults.shouldFail()) return err(ENOMEM); // kzalloc(access)
  const held = pages.hold(start, last);
  if (held.errno) return held;
  pages.accesses.push({ start, last, users: 1 });
  return held;
}

/** iopt_area_remove_access (the pages part). */
export function ioptPagesRemoveAccess(pages: IoptPages, start: number, last: number): void {
  const exact = getExactAccess(pages, start, last);
  if (!exact) throw new Error(`no access range [${start}, ${last}]`);
  exact.users--;
  if (exact.users) return;
  pages.accesses.splice(pages.accesses.indexOf(exact), 1);
  pages.release(start, last);
}

/** copy_data_page over one frame. */
function copyFrame(pages: IoptPages, pfn: number, off: number, data: Uint8Array, write: boolean): void {
  const pa = pfn * PAGE_SIZE + off;
  if (write) pages.proc.phys.u8.set(data, pa);
  else data.set(pages.proc.phys.u8.subarray(pa, pa + data.length));
}

/**
 * iopt_pages_rw_access: copy between `data` and the pages' bytes from
 * start_byte. EPERM for a write to read-only pages. The fast path
 * (the caller's own mm) is copy_to_user/copy_from_user on the user address,
 * so it faults (EFAULT) where the mapping is gone or lacks the permission,
 * pinned or not. The slow path (another mm; the selftest's SLOW_PATH flag)
 * reads the frames: one page through pin_user_pages_remote
 * (iopt_pages_rw_page), several through the pfn reader (iopt_pages_rw_slow),
 * which uses pinned frames and otherwise pins, charges and unpins.
 */
export function ioptPagesRwAccess(pages: IoptPages, startByte: number, data: Uint8Array, write: boolean, slowPath = false): number {
  const proc = pages.proc;
  const startIndex = Math.floor(startByte / PAGE_SIZE);
  const lastIndex = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
  if (write && !pages.writable) return EPERM;
  if (!slowPath) {
    const va = pages.uptr + BigInt(startByte);
    if (write) return proc.copyToUser(va, data) ? 0 : EFAULT;
    const b = proc.copyFromUser(va, data.length);
    if (!b) return EFAULT;
    data.set(b);
    return 0;
  }
  if (startIndex === lastIndex) {
    // iopt_pages_rw_page
    if (proc.faults.shouldFail()) return EINVAL;
    const r = proc.pinUserPages(pages.uptr + BigInt(startIndex) * PAGE_SIZE_N, 1, write);
    if (r.errno || !('pfns' in r)) return r.errno || EFAULT;
    copyFrame(pages, r.pfns[0]!, startByte % PAGE_SIZE, data, write);
    proc.unpinUserPage(r.pfns[0]!);
    return 0;
  }
  // iopt_pages_rw_slow: the pfn reader holds the range while copying.
  const held = pages.hold(startIndex, lastIndex);
  if (held.errno) return held.errno;
  let done = 0;
  for (let i = startIndex; i <= lastIndex; i++) {
    const off = i === startIndex ? startByte % PAGE_SIZE : 0;
    const n = Math.min(PAGE_SIZE - off, data.length - done);
    copyFrame(pages, held.value![i - startIndex]!, off, data.subarray(done, done + n), write);
    done += n;
  }
  pages.release(startIndex, lastIndex);
  return 0;
}
