/**
 * Physical memory as the simulated process sees it: page frames that user
 * mappings, pins and device DMA all refer to by frame number.
 *
 * `PhysMemory` is the interface the process needs. The page-table core
 * (impl/pagetable, impl/iommu) owns the machine's physical memory; when it is
 * available the process is constructed over it, so IOMMU page tables and DMA
 * land in the same frames. `SimplePhysMemory` is a small standalone provider for
 * tests that need no IOMMU.
 */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;

export interface PhysMemory {
  /** A zeroed 4 KiB frame, or -1 when memory is exhausted. */
  allocPage(): number;
  freePage(pfn: number): void;
  readPhys(pa: number, length: number): Uint8Array;
  writePhys(pa: number, data: Uint8Array): void;
}

/**
 * A standalone provider: frames are numbers; a frame's bytes are allocated on
 * its first write (reads of a never-written frame give zeros), so large
 * populated mappings cost little host memory.
 */
export class SimplePhysMemory implements PhysMemory {
  private readonly frames = new Map<number, Uint8Array | null>();
  private readonly free: number[] = [];
  private next: number;
  private static readonly ZERO = new Uint8Array(PAGE_SIZE);

  constructor(firstPfn = 0x100) {
    this.next = firstPfn;
  }

  allocPage(): number {
    const pfn = this.free.pop() ?? this.next++;
    this.frames.set(pfn, null);
    return pfn;
  }

  freePage(pfn: number): void {
    if (this.frames.delete(pfn)) this.free.push(pfn);
  }

  get allocated(): number {
    return this.frames.size;
  }

  private frame(pfn: number, forWrite: boolean): Uint8Array {
    const f = this.frames.get(pfn);
    if (f === undefined) throw new Error(`physical frame ${pfn} is not allocated`);
    if (f) return f;
    if (!forWrite) return SimplePhysMemory.ZERO;
    const bytes = new Uint8Array(PAGE_SIZE);
    this.frames.set(pfn, bytes);
    return bytes;
  }

  readPhys(pa: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const addr = pa + done;
      const off = addr % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, length - done);
      out.set(this.frame(Math.floor(addr / PAGE_SIZE), false).subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  writePhys(pa: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const addr = pa + done;
      const off = addr % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, data.length - done);
      this.frame(Math.floor(addr / PAGE_SIZE), true).set(data.subarray(done, done + n), off);
      done += n;
    }
  }
}

/** The machine's physical memory (impl/iommu/physmem.ts) as the process sees it. */
export interface MachinePhysMemory {
  readonly u8: Uint8Array;
  allocPages(order: number, kind: number): number;
  freePages(pa: number, order: number, kind: number): void;
}

/** User data pages come from the machine's allocator (kind DATA), so DMA lands in them. */
export function processPhysMemory(pm: MachinePhysMemory, kindData = 1): PhysMemory {
  return {
    allocPage: () => {
      const pa = pm.allocPages(0, kindData);
      return pa === 0 ? -1 : pa / PAGE_SIZE;
    },
    freePage: (pfn) => pm.freePages(pfn * PAGE_SIZE, 0, kindData),
    readPhys: (pa, length) => pm.u8.slice(pa, pa + length),
    writePhys: (pa, data) => pm.u8.set(data, pa),
  };
}
