/**
 * The simulated calling process: its address space (mappings with
 * permissions over physical frames), copy_from_user/copy_to_user with EFAULT,
 * pin_user_pages (FOLL_LONGTERM), its credentials and limits (RLIMIT_MEMLOCK,
 * CAP_IPC_LOCK, CAP_SYS_RESOURCE), the mm counters `locked_vm`/`pinned_vm`,
 * the per-user `locked_vm` (struct user_struct), its fd table and its
 * fail-nth injector.
 *
 * User pages are KIND_DATA pages of the machine's one physical memory
 * (impl/iommu PhysMemory), the memory the IOMMU page tables (KIND_TABLE) are
 * allocated from and device DMA lands in; a frame number is PA / PAGE_SIZE.
 *
 * User virtual addresses are bigint at the API (they come from u64 fields);
 * internally a VA is a number (user VAs are below 2^47). A physical page stays
 * allocated while it is mapped or pinned: munmap of pinned memory leaves the
 * pinned frames alive until unpinned, as the kernel's page refcount does.
 *
 * Public API: class Process (mmap/munmap/mprotect, copyFromUser, copyToUser,
 * getUserU32, pinUserPages, unpinUserPage, pinCountOfVa, pinCountOfPfn,
 * translateVa, rlimitMemlockPages, capable, residentPages, totalPins), UserStruct.
 */
import { EFAULT } from '../lib/errno.ts';
import { FaultInjector } from '../lib/fail_nth.ts';
import { FdTable } from './file.ts';
import { KIND_DATA, PAGE_SIZE, type PhysMemory } from '../lib/physmem.ts';
import { getU32 } from '../../spec/abi/le.ts';

export type Prot = { readonly read: boolean; readonly write: boolean };

export const PROT_RW: Prot = { read: true, write: true };
export const PROT_R: Prot = { read: true, write: false };
export const PROT_NONE: Prot = { read: false, write: false };

/** One user mapping (a VMA), page granular. pfns[i] backs start + i*P. */
interface Vma {
  start: number;
  npages: number;
  prot: Prot[];
  pfns: number[];
}

/** struct user_struct: per-user locked_vm shared by the user's processes. */
export class UserStruct {
  lockedVm = 0;
}

/** The largest user VA (x86-64 47-bit user space). */
const TASK_SIZE = 2 ** 47;
const TASK_SIZE_BIG = BigInt(TASK_SIZE);
const MMAP_BASE = 0x7f00_0000_0000;
/**
 * Where the process's own allocations go (a C program's heap, below the mmap
 * area): the adapter's scratch memory for ioctl arguments. Kept away from the
 * buffers mmap hands out, so memory just past a buffer is never the adapter's
 * arguments — on a real kernel it is not either.
 */
const HEAP_BASE = 0x5555_0000_0000;
const HPAGE_SIZE = 2 * 1024 * 1024;

/**
 * Order-0 frames as a mapping's pages get them: rarely in VA order. The
 * frames (in allocation order) are cut into chunks, the first frame alone and
 * then pairs, and the chunks given to the pages in reverse order: a page's
 * frame is followed by the next page's at only every other page boundary, so
 * code that steps to "the next frame" instead of the next page's lands on
 * another page or mapping, while PFN batches still meet runs of two
 * contiguous frames. (All in order, a small buffer's overrun landed on its
 * own next page and showed nothing.)
 */
export function interleave(frames: readonly number[]): number[] {
  if (frames.length === 0) return [];
  const chunks: number[][] = [[frames[0]!]];
  for (let i = 1; i < frames.length; i += 2) chunks.push(frames.slice(i, i + 2));
  return chunks.reverse().flat();
}

/**
 * dst[to, to+n) = src[from, from+n): a loop for the few bytes of a struct or
 * a field (a subarray view costs more than the copy), set() beyond. One side
 * is always the physical memory and the other a caller's array, never a view
 * of that memory (nothing passes one), so the ranges cannot overlap; asking
 * `.buffer` to make sure would move a small array off V8's heap on every call.
 */
function copyBytes(src: Uint8Array, from: number, dst: Uint8Array, to: number, n: number): void {
  if (n <= 64) {
    for (let i = 0; i < n; i++) dst[to + i] = src[from + i]!;
    return;
  }
  dst.set(src.subarray(from, from + n), to);
}

export class Process {
  readonly fds = new FdTable();
  /** Kernel WARN_ONs hit by code that ran for this process with no iommufd context at hand (iopt_release_pages); empty in a correct run. */
  readonly warnings: string[] = [];
  readonly faults = new FaultInjector();
  readonly user: UserStruct;
  /** RLIMIT_MEMLOCK in bytes; null = RLIM_INFINITY. */
  rlimitMemlock: bigint | null = 8n * 1024n * 1024n;
  capIpcLock = false;
  capSysResource = false;
  capSysRawio = false;
  /** mm->locked_vm (pages), charged by the VFIO-style accounting mode. */
  lockedVm = 0;
  /** mm->pinned_vm (pages): every long-term pin. */
  pinnedVm = 0;

  private vmas: Vma[] = [];
  private readonly nextVa = { mmap: MMAP_BASE, heap: HEAP_BASE };
  /** pin_user_pages references per frame (page_ref_count / GUP_PIN_COUNTING_BIAS). */
  private readonly pins = new Map<number, number>();
  /** Frames whose mapping is gone but which are still pinned. */
  private readonly orphaned = new Set<number>();

  constructor(
    readonly phys: PhysMemory,
    user?: UserStruct,
  ) {
    this.user = user ?? new UserStruct();
  }

  capable(cap: 'CAP_IPC_LOCK' | 'CAP_SYS_RESOURCE' | 'CAP_SYS_RAWIO'): boolean {
    if (cap === 'CAP_IPC_LOCK') return this.capIpcLock;
    if (cap === 'CAP_SYS_RESOURCE') return this.capSysResource;
    return this.capSysRawio;
  }

  /** task_rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT; Infinity when unlimited. */
  rlimitMemlockPages(): number {
    if (this.rlimitMemlock === null) return Infinity;
    return Number(this.rlimitMemlock >> 12n);
  }

  // -- the address space ---------------------------------------------------

  /** mmap(MAP_ANONYMOUS|MAP_POPULATE): a new mapping, populated with zeroed frames. Returns the VA, or null on ENOMEM. */
  mmap(length: number, prot: Prot = PROT_RW, hugeAligned = false, region: 'mmap' | 'heap' = 'mmap'): bigint | null {
    if (length <= 0) return null;
    const npages = Math.ceil(length / PAGE_SIZE);
    const align = hugeAligned ? HPAGE_SIZE : PAGE_SIZE;
    const start = Math.ceil(this.nextVa[region] / align) * align;
    if (start + npages * PAGE_SIZE > (region === 'heap' ? MMAP_BASE : TASK_SIZE)) return null;
    const pfns: number[] = [];
    // A huge-aligned mapping is backed as THP backs one: each whole 2 MiB of it by one
    // physically contiguous, 2 MiB-aligned block (so an IOMMU can map it with a large leaf).
    // The rest, page by page, in the order the page allocator's interleave() gives.
    const hugePages = HPAGE_SIZE / PAGE_SIZE;
    const small: number[] = [];
    for (let i = 0; i < npages; ) {
      const huge = hugeAligned && npages - i >= hugePages;
      const pa = this.phys.allocPages(huge ? Math.log2(hugePages) : 0, KIND_DATA);
      if (pa === 0) {
        for (const p of pfns) this.freeFrame(p);
        for (const p of small) this.freeFrame(p);
        return null;
      }
      if (huge) for (let j = 0; j < hugePages; j++) pfns.push(pa / PAGE_SIZE + j);
      else small.push(pa / PAGE_SIZE);
      i += huge ? hugePages : 1;
    }
    pfns.push(...interleave(small));
    this.vmas.push({ start, npages, prot: new Array<Prot>(npages).fill(prot), pfns });
    this.vmas.sort((a, b) => a.start - b.start);
    // Leave a guard gap so adjacent buffers are never contiguous by accident.
    this.nextVa[region] = start + (npages + 1) * PAGE_SIZE;
    return BigInt(start);
  }

  /** munmap of [va, va+length): page granular; pinned frames stay alive until unpinned. */
  munmap(va: bigint, length: number): void {
    const first = Number(va) - (Number(va) % PAGE_SIZE);
    const end = Number(va) + length;
    for (let addr = first; addr < end; addr += PAGE_SIZE) this.unmapPage(addr);
    // Drop VMAs with nothing mapped left so lookups stay short.
    this.vmas = this.vmas.filter((v) => v.pfns.some((p) => p >= 0));
  }

  mprotect(va: bigint, length: number, prot: Prot): boolean {
    const first = Number(va) - (Number(va) % PAGE_SIZE);
    const end = Number(va) + length;
    for (let addr = first; addr < end; addr += PAGE_SIZE) if (!this.findPage(addr)) return false;
    for (let addr = first; addr < end; addr += PAGE_SIZE) {
      const hit = this.findPage(addr);
      if (hit) hit.vma.prot[hit.index] = prot;
    }
    return true;
  }

  /** The VMA containing addr (binary search over the sorted, disjoint VMAs). */
  private findVma(addr: number): Vma | undefined {
    let lo = 0;
    let hi = this.vmas.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.vmas[mid]!;
      if (addr < v.start) hi = mid - 1;
      else if (addr >= v.start + v.npages * PAGE_SIZE) lo = mid + 1;
      else return v;
    }
    return undefined;
  }

  private findPage(addr: number): { vma: Vma; index: number } | undefined {
    const vma = this.findVma(addr);
    if (!vma) return undefined;
    const index = Math.floor((addr - vma.start) / PAGE_SIZE);
    return vma.pfns[index]! >= 0 ? { vma, index } : undefined;
  }

  private unmapPage(addr: number): void {
    const hit = this.findPage(addr);
    if (!hit) return;
    const pfn = hit.vma.pfns[hit.index]!;
    hit.vma.pfns[hit.index] = -1;
    if ((this.pins.get(pfn) ?? 0) > 0) this.orphaned.add(pfn);
    else this.freeFrame(pfn);
  }

  /** The frame goes back to the machine's allocator (zeroed there). */
  private freeFrame(pfn: number): void {
    this.phys.freePages(pfn * PAGE_SIZE, 0, KIND_DATA);
  }

  /** Data frames this process holds: mapped, or unmapped but still pinned (leak checks against phys.dataPages). */
  get residentPages(): number {
    let n = this.orphaned.size;
    for (const v of this.vmas) for (const p of v.pfns) if (p >= 0) n++;
    return n;
  }

  /** The frame behind a user VA (a number: VAs are below 2^47), or -1 when unmapped; allocates nothing. */
  pfnAt(va: number): number {
    if (va < 0 || va >= TASK_SIZE) return -1;
    const vma = this.findVma(va);
    if (vma === undefined) return -1;
    return vma.pfns[Math.floor((va - vma.start) / PAGE_SIZE)]!;
  }

  /** The frame and permissions behind a user VA, if mapped. */
  translateVa(va: bigint): { pfn: number; prot: Prot } | undefined {
    if (va < 0n || va >= TASK_SIZE_BIG) return undefined;
    const hit = this.findPage(Number(va));
    if (!hit) return undefined;
    return { pfn: hit.vma.pfns[hit.index]!, prot: hit.vma.prot[hit.index]! };
  }

  /** The physical address behind user VA `addr` when its page is mapped with the access asked for, else -1. */
  private userPa(addr: number, write: boolean): number {
    const vma = this.findVma(addr);
    if (vma === undefined) return -1;
    const index = Math.floor((addr - vma.start) / PAGE_SIZE);
    const pfn = vma.pfns[index]!;
    if (pfn < 0) return -1;
    const prot = vma.prot[index]!;
    if (!(write ? prot.write : prot.read)) return -1;
    return pfn * PAGE_SIZE + (addr % PAGE_SIZE);
  }

  /** The last userRuns' answer: (pa, offset in the range, bytes) per run. */
  private runs = new Float64Array(3 * 4);

  /**
   * The physical runs behind [va, va+length), each within one page, into
   * `runs`, when every page of it is mapped with the access asked for — all
   * found before a caller copies any, so a faulting copy touches nothing
   * (EFAULT). Returns how many, or -1. copy_from_user, copy_to_user and
   * clear_user are a loop over them (no closure or view per call: every
   * ioctl makes a few of these calls).
   */
  private userRuns(va: bigint, length: number, write: boolean): number {
    if (length === 0) return 0;
    if (va < 0n || va >= TASK_SIZE_BIG) return -1;
    const base = Number(va);
    if (base + length > TASK_SIZE) return -1;
    let count = 0;
    for (let at = 0; at < length; ) {
      const addr = base + at;
      const pa = this.userPa(addr, write);
      if (pa < 0) return -1;
      const n = Math.min(PAGE_SIZE - (addr % PAGE_SIZE), length - at);
      if (3 * count + 3 > this.runs.length) {
        const more = new Float64Array(this.runs.length * 2);
        more.set(this.runs);
        this.runs = more;
      }
      this.runs[3 * count] = pa;
      this.runs[3 * count + 1] = at;
      this.runs[3 * count + 2] = n;
      count++;
      at += n;
    }
    return count;
  }

  /** copy_from_user: the bytes, or null (EFAULT) if any byte is not readable (checked before anything is buffered). */
  copyFromUser(va: bigint, length: number): Uint8Array | null {
    const count = this.userRuns(va, length, false);
    if (count < 0) return null;
    const out = new Uint8Array(length);
    const r = this.runs;
    for (let i = 0; i < count; i++) copyBytes(this.phys.u8, r[3 * i]!, out, r[3 * i + 1]!, r[3 * i + 2]!);
    return out;
  }

  /** copy_from_user into dst[at, at+length): false (EFAULT) and nothing copied if any byte is not readable. */
  copyFromUserInto(va: bigint, dst: Uint8Array, at: number, length: number): boolean {
    const count = this.userRuns(va, length, false);
    if (count < 0) return false;
    const r = this.runs;
    for (let i = 0; i < count; i++) copyBytes(this.phys.u8, r[3 * i]!, dst, at + r[3 * i + 1]!, r[3 * i + 2]!);
    return true;
  }

  /** copy_to_user: false (EFAULT) if any byte is not writable; nothing is written then. */
  copyToUser(va: bigint, data: Uint8Array): boolean {
    const count = this.userRuns(va, data.length, true);
    if (count < 0) return false;
    const r = this.runs;
    for (let i = 0; i < count; i++) copyBytes(data, r[3 * i + 1]!, this.phys.u8, r[3 * i]!, r[3 * i + 2]!);
    return true;
  }

  /** clear_user: zeroes [va, va+length) of writable memory; false (EFAULT) and nothing written otherwise. */
  clearUser(va: bigint, length: number): boolean {
    const count = this.userRuns(va, length, true);
    if (count < 0) return false;
    const r = this.runs;
    for (let i = 0; i < count; i++) this.phys.u8.fill(0, r[3 * i]!, r[3 * i]! + r[3 * i + 2]!);
    return true;
  }

  /** get_user of a u32: the value, or null (EFAULT). */
  getUserU32(va: bigint): number | null {
    const b = this.copyFromUser(va, 4);
    if (!b) return null;
    return getU32(b, 0);
  }

  // -- pinning ---------------------------------------------------------------

  /**
   * pin_user_pages(FOLL_LONGTERM [| FOLL_WRITE]) of npages from the
   * page-aligned `va`: all or nothing; -EFAULT when a page is unmapped, not
   * readable, or not writable for a write pin. Does not touch mm counters
   * (pages.c does its own accounting).
   */
  pinUserPages(va: bigint, npages: number, write: boolean): { errno: 0; pfns: number[] } | { errno: number } {
    if (va < 0n) return { errno: -EFAULT };
    const base = Number(va);
    const pfns: number[] = [];
    let vma: Vma | undefined;
    for (let i = 0; i < npages; i++) {
      const addr = base + i * PAGE_SIZE;
      if (addr >= TASK_SIZE) return { errno: -EFAULT };
      // Consecutive pages mostly share a VMA: look it up again only when leaving it.
      if (vma === undefined || addr < vma.start || addr >= vma.start + vma.npages * PAGE_SIZE) vma = this.findVma(addr);
      if (vma === undefined) return { errno: -EFAULT };
      const index = Math.floor((addr - vma.start) / PAGE_SIZE);
      const pfn = vma.pfns[index]!;
      const prot = vma.prot[index]!;
      if (pfn < 0 || !prot.read || (write && !prot.write)) return { errno: -EFAULT };
      pfns.push(pfn);
    }
    for (const pfn of pfns) this.pins.set(pfn, (this.pins.get(pfn) ?? 0) + 1);
    return { errno: 0, pfns };
  }

  /** unpin_user_page: drops one pin; frees an orphaned frame when its last pin goes. */
  unpinUserPage(pfn: number): void {
    const n = this.pins.get(pfn) ?? 0;
    if (n <= 0) throw new Error(`unpin of frame ${pfn} that is not pinned`);
    if (n === 1) {
      this.pins.delete(pfn);
      if (this.orphaned.delete(pfn)) this.freeFrame(pfn);
    } else this.pins.set(pfn, n - 1);
  }

  pinCountOfPfn(pfn: number): number {
    return this.pins.get(pfn) ?? 0;
  }

  /** Pin count of the frame behind a VA (0 when unmapped). */
  pinCountOfVa(va: bigint): number {
    const t = this.translateVa(va);
    return t ? this.pinCountOfPfn(t.pfn) : 0;
  }

  /** Every long-term pin still held, over all frames (leak checks). */
  get totalPins(): number {
    let n = 0;
    for (const v of this.pins.values()) n += v;
    return n;
  }
}
