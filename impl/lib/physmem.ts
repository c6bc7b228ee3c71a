/**
 * Simulated physical memory: one ArrayBuffer, addressed by physical address
 * (PA 0 = byte 0 of the buffer), plus a page-frame allocator shared by
 * page-table pages and data ("user") pages, with separate accounting.
 *
 * Page 0 is reserved so that PA 0 never names a live page (iova_to_phys uses 0
 * for "no translation", as the kernel does).
 *
 * Blocks are naturally aligned powers of two of 4 KiB pages (order 0..MAX_ORDER),
 * because hardware tables must be aligned to their size (64 KiB Arm tables,
 * concatenated stage-2 roots). Freed blocks go on a per-order free list (no
 * coalescing: table sizes per domain are fixed, so lists are reused as-is).
 *
 * Non-coherent walk: when enabled, the device-side view (`devU32`) is a second
 * copy of memory that sees CPU writes only after `syncForDevice` (models a
 * walker that does not snoop CPU caches; Linux's DMA_INCOHERENT flush).
 */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const MAX_ORDER = 10;

/** Accounting kinds: page-table pages (NR_SECONDARY_PAGETABLE-like) vs data pages. */
export const KIND_TABLE = 0;
export const KIND_DATA = 1;

export interface PhysMemoryOptions {
  /** Bytes of simulated RAM; a multiple of 4 KiB, at most 2 GiB. Default 256 MiB. */
  size?: number;
}

export class PhysMemory {
  readonly size: number;
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  /** What the IOMMU walker reads: `u32` itself, or a lagging copy in non-coherent mode. */
  devU32: Uint32Array;
  private devBuffer: ArrayBuffer | null = null;
  private readonly npages: number;
  private bump = 1; // page 0 reserved
  private readonly free: number[][] = [];
  /** Pages currently allocated per kind (index KIND_TABLE / KIND_DATA). */
  readonly allocated: number[] = [0, 0];
  /** High-water mark of table pages. */
  peakTablePages = 0;
  /**
   * Bumped by every `reset`: whatever was built on the memory before (a
   * machine, its IOMMU caches) is dead from then on, so its storage may be
   * reused (HwIommu's IOTLB arrays) instead of reallocated per session.
   */
  generation = 0;

  constructor(opts: PhysMemoryOptions = {}) {
    const size = opts.size ?? 256 * 1024 * 1024;
    if (size % PAGE_SIZE !== 0 || size <= PAGE_SIZE || size > 2 ** 31) {
      throw new RangeError(`PhysMemory size ${size} must be a multiple of 4096 in (4096, 2^31]`);
    }
    this.size = size;
    this.buffer = new ArrayBuffer(size);
    this.u8 = new Uint8Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.devU32 = this.u32;
    this.npages = size / PAGE_SIZE;
    for (let o = 0; o <= MAX_ORDER; o++) this.free.push([]);
  }

  get tablePages(): number {
    return this.allocated[KIND_TABLE] as number;
  }
  get dataPages(): number {
    return this.allocated[KIND_DATA] as number;
  }

  /**
   * Allocate 2^order zeroed pages aligned to their size. Returns the PA, or 0
   * when memory is exhausted (callers turn that into -ENOMEM).
   */
  allocPages(order: number, kind: number): number {
    const list = this.free[order];
    let pfn: number;
    if (list !== undefined && list.length > 0) {
      pfn = list.pop() as number;
    } else {
      const n = 1 << order;
      let start = this.bump;
      const aligned = (start + n - 1) & ~(n - 1);
      if (aligned + n > this.npages) return 0;
      // The alignment gap becomes order-0 pages for later use.
      for (; start < aligned; start++) (this.free[0] as number[]).push(start);
      this.bump = aligned + n;
      pfn = aligned;
    }
    const count = 1 << order;
    this.allocated[kind] = (this.allocated[kind] as number) + count;
    if (kind === KIND_TABLE && (this.allocated[KIND_TABLE] as number) > this.peakTablePages) {
      this.peakTablePages = this.allocated[KIND_TABLE] as number;
    }
    return pfn * PAGE_SIZE;
  }

  /** Free a block from allocPages. Memory is zeroed now so reuse needs no clearing. */
  freePages(pa: number, order: number, kind: number): void {
    const count = 1 << order;
    const w = pa >>> 2;
    this.u32.fill(0, w, w + count * 1024);
    if (this.devBuffer !== null) this.devU32.fill(0, w, w + count * 1024);
    this.allocated[kind] = (this.allocated[kind] as number) - count;
    (this.free[order] as number[]).push(pa / PAGE_SIZE);
  }

  /** Convenience for data pages: `n` pages (rounded up to a power of two block). */
  allocData(npages: number): number {
    let order = 0;
    while (1 << order < npages) order++;
    if (order > MAX_ORDER) return 0;
    return this.allocPages(order, KIND_DATA);
  }

  /**
   * Back to the state `new PhysMemory` gives: every page free and zero, the
   * allocator at its start (so the same allocations return the same PAs) and
   * the coherent view. Only the pages ever handed out are cleared, so a
   * session that used a few MiB resets in microseconds instead of paying for
   * a fresh zeroed buffer. The caller guarantees nothing still uses the
   * memory (a process's exit: its machine and tables are gone with it).
   */
  reset(): void {
    this.u32.fill(0, PAGE_SIZE >>> 2, (this.bump * PAGE_SIZE) >>> 2);
    this.devBuffer = null;
    this.devU32 = this.u32;
    this.bump = 1;
    for (const list of this.free) list.length = 0;
    this.allocated[KIND_TABLE] = 0;
    this.allocated[KIND_DATA] = 0;
    this.peakTablePages = 0;
    this.generation++;
  }

  /** Enable the non-coherent device view (idempotent). */
  enableNonCoherentView(): void {
    if (this.devBuffer !== null) return;
    this.devBuffer = new ArrayBuffer(this.size);
    this.devU32 = new Uint32Array(this.devBuffer);
    this.devU32.set(this.u32);
  }

  get nonCoherent(): boolean {
    return this.devBuffer !== null;
  }

  /** Make CPU writes to [pa, pa+bytes) visible to the device walker (clflush / dma_sync_single_for_device). */
  syncForDevice(pa: number, bytes: number): void {
    if (this.devBuffer === null) return;
    const w = pa >>> 2;
    this.devU32.set(this.u32.subarray(w, w + ((bytes + 3) >>> 2)), w);
  }

  /** A device-side write of a 32-bit word (walker A/D updates): lands in memory and the device view. */
  deviceWrite32(wordIndex: number, value: number): void {
    this.u32[wordIndex] = value;
    if (this.devBuffer !== null) this.devU32[wordIndex] = value;
  }

  /** True when [pa, pa+len) lies inside simulated RAM (DMA to anything else faults). */
  inRam(pa: number, len: number): boolean {
    return pa >= PAGE_SIZE && pa + len <= this.size;
  }
}

/**
 * Memories of ended processes, ready for the next one. A fresh PhysMemory is
 * a large zeroed buffer: cheap to map, but its pages are faulted in as they
 * are touched and the collector counts it as external memory, so a loop that
 * builds one per case (a property's runs, a session per case) spent most of
 * its time collecting them. One that an ended process gave back needs only
 * the pages it handed out cleared (PhysMemory.reset). Bounded: memories that
 * are never given back are simply collected.
 */
export class PhysMemoryPool {
  private readonly idle: PhysMemory[] = [];

  constructor(
    readonly size: number,
    private readonly maxIdle = 4,
  ) {}

  /** A memory in the fresh state of `new PhysMemory({ size })`. */
  take(): PhysMemory {
    const phys = this.idle.pop();
    if (!phys) return new PhysMemory({ size: this.size });
    phys.reset();
    return phys;
  }

  /** Back for reuse; the caller guarantees nothing uses it any more (its process has exited). */
  give(phys: PhysMemory): void {
    if (phys.size === this.size && this.idle.length < this.maxIdle && !this.idle.includes(phys)) this.idle.push(phys);
  }
}
