/**
 * The IO page-table engine: one radix table of a hardware format, stored as
 * little-endian 64-bit PTEs (two u32 words) in simulated physical memory.
 *
 * IoPageTable is drivers/iommu/generic_pt/iommu_pt.h written once over a
 * format's entry operations (fmt/*.ts: entryType, tablePa, leafOa,
 * contigLg2, writeTable, writeLeaves, setProt, the dirty helpers): map_range,
 * unmap_range, iova_to_phys, read_and_clear_dirty, set_dirty, deinit, with
 * the dynamic top (increase_top) and the table-to-leaf conversion. Nothing in
 * it knows a bit layout. The drivers that predate generic_pt subclass it and
 * replace map/unmap (and dirty reading) with their own algorithms:
 * io_pgtable_arm.ts, intel612.ts, amd612.ts; createPageTable (index.ts) picks
 * the class by PtGeometry.driver.
 *
 * Hot paths use numbers only (IOVA/OA exact below 2^53), no per-PTE objects.
 * IOVAs at or above 2^53 (AMD v1's 64-bit VA, 57-bit VT-d/x86, the x86 upper
 * half) go through the *Wide methods: an operation then runs inside one 2^52
 * window (`winHi` = IOVA bits 63:52) and levels whose index reaches above bit
 * 52 take those bits from winHi. No leaf is larger than 2^51, so no leaf
 * crosses a window.
 */
import { EADDRINUSE, EINVAL, ENOENT, ENOMEM, ENXIO, EOPNOTSUPP, EOVERFLOW, ERANGE } from '../lib/errno.ts';
import { KIND_TABLE, type PhysMemory } from '../lib/physmem.ts';
import { PT_ENTRY_EMPTY, PT_ENTRY_OA, PT_ENTRY_TABLE, type PtFormat } from './fmt/types.ts';
import { vaBitsAtTop, type PtGeometry } from './format.ts';
import { IotlbGather } from './gather.ts';
import { bestPgsizeLg2, ctz, flsLg2, modPow2, POW2 } from './pgsize.ts';

export const IOMMU_DIRTY_NO_CLEAR = 1;
const WIN_LG2 = 52;
const WIN = 2 ** WIN_LG2;

/** Receives dirty IOVA ranges (iommu_dirty_bitmap_record). */
export interface DirtyRecorder {
  record(iova: number, length: number): void;
}

/** Called by sync with the gather before the gathered table pages are freed. */
export type FlushHook = (gather: IotlbGather) => void;
interface LevelArrays {
  readonly itemSize: Float64Array;
  readonly idxMask: Int32Array;
  readonly itemLg2: Int32Array;
  readonly entries: Int32Array;
  readonly tableOrder: number[];
}

const LEVEL_ARRAYS = new WeakMap<readonly number[], { readonly entries: readonly number[]; readonly tableBytes: readonly number[]; readonly arrays: LevelArrays }>();

/**
 * The per-level numbers a table reads on every step, as typed arrays: built
 * once per geometry (format.ts builds its arrays once and nobody writes them;
 * geometryFor hands every domain of a format the same ones) and shared by its
 * tables, which only read them.
 */
function levelArrays(g: PtGeometry): LevelArrays {
  const hit = LEVEL_ARRAYS.get(g.itemLg2);
  if (hit !== undefined && hit.entries === g.entries && hit.tableBytes === g.tableBytes) return hit.arrays;
  const arrays: LevelArrays = {
    itemSize: Float64Array.from(g.itemLg2.map((l) => 2 ** l)),
    idxMask: Int32Array.from(g.entries.map((n) => n - 1)),
    itemLg2: Int32Array.from(g.itemLg2),
    entries: Int32Array.from(g.entries),
    tableOrder: g.tableBytes.map((b) => Math.ceil(Math.log2(Math.max(b, 4096) / 4096))),
  };
  LEVEL_ARRAYS.set(g.itemLg2, { entries: g.entries, tableBytes: g.tableBytes, arrays });
  return arrays;
}

/** Called when the top level changes (AMD DTE root/mode rewrite, change_top). */
export type ChangeTopHook = (rootPa: number, topLevel: number) => void;

export class IoPageTable {
  readonly g: PtGeometry;
  readonly fmt: PtFormat;
  readonly mem: PhysMemory;
  readonly kind: number;
  protected readonly u32: Uint32Array;
  /** Root table PA (as allocated; the hardware register value adds g.tablePtrBias). */
  root = 0;
  topLevel: number;
  /** Bytes mapped by the last map() call, also on failure (the `mapped` out-param). */
  mapped = 0;
  /** Hardware dirty tracking enabled (VT-d SSADE, AMD DTE HAD, mock MOCK_DIRTY_TRACK). */
  dirtyTracking = false;
  onFlush: FlushHook | null = null;
  /** Fallible-step hook (fail_nth): when it returns true a table allocation fails (-ENOMEM). */
  allocFail: (() => boolean) | null = null;
  /** Table pages (4 KiB units) this table currently owns, freed-but-unsynced pages included. */
  tablePages = 0;
  /** Bytes of IOVA currently mapped. */
  mappedBytes = 0;
  onChangeTop: ChangeTopHook | null = null;
  protected readonly itemSize: Float64Array;
  protected readonly idxMask: Int32Array;
  /**
   * Plain-number IOVA limits, at most 2^53; 2^52 inside a window. vaLimit bounds
   * the first IOVA of a range, lastLimit its last: with sign extension
   * pt_check_range takes the prefix from the first IOVA's sign bit and only
   * requires both ends to agree above the VA width (2^(vasz-1) and 2^vasz).
   */
  protected vaLimit: number;
  protected lastLimit: number;
  protected readonly oaLimit: number;
  /** Wide-IOVA window: bits 63:52 of the IOVAs of the current operation (0 = plain numbers). */
  protected winHi = 0;
  protected readonly levelOfLg2: Int8Array;
  protected readonly itemLg2: Int32Array;
  protected readonly entries: Int32Array;
  protected readonly pgsizesLg2: number[];
  /** Leaf attributes of the current map() (pt_iommu_set_prot). */
  protected readonly attrs = new Int32Array(2);
  /** setProt answers per prot value 0..63: lo, hi, errno (memoized; reset when coherency is forced). */
  private readonly protCache = new Int32Array(64 * 3);
  private readonly protKnown = new Uint8Array(64);
  private readonly minPg: number;
  protected readonly tableOrder: number[];
  protected readonly ncoh: boolean;
  protected readonly bias: number;
  private readonly hasPage4k: boolean;
  protected err = 0;
  private unmapped = 0;
  protected readonly scratch = new IotlbGather();

  constructor(mem: PhysMemory, g: PtGeometry) {
    this.g = g;
    this.fmt = g.fmt;
    this.mem = mem;
    this.kind = g.kind;
    this.u32 = mem.u32;
    this.topLevel = g.topLevel;
    const lv = levelArrays(g);
    this.itemSize = lv.itemSize;
    this.idxMask = lv.idxMask;
    this.oaLimit = 2 ** g.oaBits;
    this.levelOfLg2 = g.levelOfLg2;
    this.itemLg2 = lv.itemLg2;
    this.entries = lv.entries;
    this.pgsizesLg2 = g.pgsizes;
    this.vaLimit = 0;
    this.lastLimit = 0;
    this.setNumberLimits();
    this.minPg = 2 ** (g.pgsizes[0] as number);
    this.tableOrder = lv.tableOrder;
    this.ncoh = g.nonCoherentWalk;
    this.bias = g.tablePtrBias;
    // pt_has_system_page_size: the fast 4 KiB path of map_range.
    this.hasPage4k = g.granLg2 === 12 && g.levelOfLg2[12] === 0;
    if (this.ncoh) mem.enableNonCoherentView();
  }

  /** Allocate the top table. Returns 0 or -ENOMEM. */
  init(): number {
    const root = this.allocTable(this.topLevel);
    if (root === 0) return -ENOMEM;
    this.root = root;
    return 0;
  }

  /** The root pointer as the hardware sees it (DTE/context/TTBR/VTTBR). */
  get rootHw(): number {
    return this.root + this.bias;
  }

  /** Page sizes (bytes) the domain advertises (pgsize_bitmap as a list). */
  get pgsizes(): number[] {
    return this.pgsizesLg2.map((l) => 2 ** l);
  }

  /** Smallest supported page size in bytes (1 << __ffs(pgsize_bitmap)). */
  get minPageSize(): number {
    return this.minPg;
  }

  // ---------------------------------------------------------------- memory

  protected allocTable(level: number): number {
    if (this.allocFail !== null && this.allocFail()) return 0;
    const order = this.tableOrder[level] as number;
    const pa = this.mem.allocPages(order, KIND_TABLE);
    if (pa !== 0) this.tablePages += 2 ** order;
    if (pa !== 0 && this.ncoh) this.mem.syncForDevice(pa, this.g.tableBytes[level] as number);
    return pa;
  }

  protected freeTable(pa: number, order: number): void {
    this.mem.freePages(pa, order, KIND_TABLE);
    this.tablePages -= 2 ** order;
  }

  /** Make CPU writes visible to a non-coherent walker (flush_writes_range / PT_FEAT_DMA_INCOHERENT). */
  protected flush(pa: number, bytes: number): void {
    if (this.ncoh) this.mem.syncForDevice(pa, bytes);
  }

  /**
   * Index of `va` in a table at `level`. Exact for va < 2^53 (power-of-two
   * division). Inside a wide window va is the low 52 bits and the index bits
   * above bit 52 come from winHi.
   */
  protected index(va: number, level: number): number {
    if (this.winHi !== 0) return this.wideIndex(va, level);
    return (va / (this.itemSize[level] as number)) & (this.idxMask[level] as number);
  }

  private wideIndex(va: number, level: number): number {
    const lg = this.itemLg2[level] as number;
    const mask = this.idxMask[level] as number;
    if (lg >= WIN_LG2) return Math.floor(this.winHi / 2 ** (lg - WIN_LG2)) & mask;
    const k = WIN_LG2 - lg;
    const fromHi = k >= 16 ? 0 : (this.winHi & 0xffff) * 2 ** k;
    return (fromHi + Math.floor(va / (this.itemSize[level] as number))) & mask;
  }

  /** Table PA from a table entry (pt_table_pa), removing the IPA bias. */
  tablePa(lo: number, hi: number): number {
    return this.fmt.tablePa(lo, hi) - this.bias;
  }

  protected writeTableEntry(w: number, level: number, childPa: number): void {
    this.fmt.writeTable(this.u32, w, level, childPa + this.bias);
  }

  /** Is a present entry at `level` a table pointer? (pt_load_entry_raw) */
  isTable(lo: number, hi: number, level: number): boolean {
    return this.fmt.entryType(lo, hi, level) === PT_ENTRY_TABLE;
  }

  /**
   * intel_iommu_enforce_cache_coherency / PT_FEAT_*_FORCE_COHERENCE: later maps
   * carry the snoop bit (VT-d SNP; AMD v1 has FC from the start); existing
   * leaves are not rewritten. False for formats without such a bit.
   */
  enforceCacheCoherency(): boolean {
    if (!this.fmt.hasCoherenceBit) return false;
    this.g.opts.coherent = true;
    this.protKnown.fill(0);
    return true;
  }

  /** pt_iommu_set_prot into this.attrs (memoized per prot value). Returns 0 or -errno. */
  protected setProt(prot: number): number {
    if (prot >= 0 && prot < 64) {
      const c = this.protCache;
      if (this.protKnown[prot] === 0) {
        c[prot * 3 + 2] = this.fmt.setProt(prot, this.attrs, this.g.opts.coherent);
        c[prot * 3] = this.attrs[0] as number;
        c[prot * 3 + 1] = this.attrs[1] as number;
        this.protKnown[prot] = 1;
      }
      this.attrs[0] = c[prot * 3] as number;
      this.attrs[1] = c[prot * 3 + 1] as number;
      return c[prot * 3 + 2] as number;
    }
    return this.fmt.setProt(prot, this.attrs, this.g.opts.coherent);
  }

  get forceCoherent(): boolean {
    return this.g.opts.coherent;
  }

  // ------------------------------------------------------------------- map

  /** Largest page size for [va, last] at oa (pt_compute_best_pgsize). */
  bestPgsize(va: number, last: number, oa: number): number {
    return bestPgsizeLg2(this.pgsizesLg2, va, last, oa);
  }

  /**
   * iommu_map's driver step: returns 0 or -errno with the bytes mapped (also
   * on failure) in `this.mapped`; partial progress is not undone (Domain.map
   * unmaps it, as iommu_map_nosync does). generic_pt: map_range.
   */
  map(iova: number, pa: number, len: number, prot: number): number {
    return this.mapRange(iova, pa, len, prot);
  }

  /** generic_pt map_range (iommu_pt.h); the iommu core calls it directly, with no alignment check of its own. */
  protected mapRange(iova: number, pa: number, len: number, prot: number): number {
    this.mapped = 0;
    // WARN_ON(!(prot & (IOMMU_READ | IOMMU_WRITE))): -EINVAL
    if (!(prot & 3)) return -EINVAL;
    if (pa >= this.oaLimit || pa < 0) return -ERANGE;
    const rc = this.setProt(prot);
    if (rc !== 0) return rc;
    if (!(len > 0)) return -EINVAL; // make_range: len == 0
    const last = iova + len - 1;
    if (last > Number.MAX_SAFE_INTEGER) return -ERANGE; // plain numbers stop at 2^53 (see mapWide)
    let lg2: number;
    let leafLevel: number;
    if (len === 4096 && this.hasPage4k) {
      if (((iova >>> 0) & 4095) + ((pa >>> 0) & 4095) !== 0) return -ENXIO;
      lg2 = 12;
    } else {
      lg2 = this.bestPgsize(iova, last, pa);
      if (lg2 === 0) return -ENXIO;
    }
    leafLevel = this.levelOfLg2[lg2] as number;
    const crc = this.checkMapRange(iova, last, leafLevel);
    if (crc !== 0) return crc;
    if (lg2 === 12 && len === 4096 && this.hasPage4k && !this.ncoh) {
      const r = this.mapSingle4k(iova, pa);
      if (r <= 0) {
        if (r === 0) {
          this.mapped = 4096;
          this.mappedBytes += 4096;
        }
        return r;
      }
      // r > 0: a table is missing, take the full path.
    }
    const gather = this.scratch;
    gather.reset();
    let va = iova;
    let oa = pa;
    let remaining = len;
    let ret = 0;
    while (remaining > 0) {
      if (va !== iova) {
        lg2 = this.bestPgsize(va, va + remaining - 1, oa);
        leafLevel = this.levelOfLg2[lg2] as number;
      }
      const table = this.descendForMap(va, leafLevel);
      if (table < 0) {
        ret = table;
        break;
      }
      const size = POW2[lg2] as number;
      const runLg2 = lg2 - (this.itemLg2[leafLevel] as number);
      const idx = this.index(va, leafLevel);
      const fit = ((this.entries[leafLevel] as number) - idx) / (POW2[runLg2] as number);
      const n = Math.min(Math.floor(fit), this.runLength(va, oa, remaining, lg2));
      const done = this.fillLeaves(table, leafLevel, idx, n, runLg2, oa, lg2, gather);
      const bytes = done * size;
      va += bytes;
      oa += bytes;
      remaining -= bytes;
      this.mapped += bytes;
      this.mappedBytes += bytes;
      if (this.err !== 0) {
        ret = this.err;
        break;
      }
      if (done === 0) {
        ret = -EINVAL; // cannot happen when page sizes and alignment agree; never spin
        break;
      }
    }
    // Table levels replaced by large leaves: flush the walk caches before map returns.
    if (gather.freelist.length > 0) this.sync(gather);
    return ret;
  }

  /** Leaves of size 2^lg2 to write before the range ends or a larger size becomes usable (pt_pgsz_count). */
  private runLength(va: number, oa: number, remaining: number, lg2: number): number {
    const size = POW2[lg2] as number;
    let n = Math.floor(remaining / size);
    const sizes = this.pgsizesLg2;
    for (let i = 0; i < sizes.length; i++) {
      const p = sizes[i] as number;
      if (p <= lg2) continue;
      const P = POW2[p] as number;
      if (modPow2(va > oa ? va - oa : oa - va, P) !== 0) break; // relative alignment rules out all larger sizes
      const b = Math.ceil(va / P) * P;
      if (b + P - va <= remaining) n = Math.min(n, (b - va) / size);
      break;
    }
    return n;
  }

  /** VA bits an IOVA range ending at `last` needs (inside a window: the window's bits too). */
  private neededVaBits(last: number): number {
    if (this.winHi !== 0) return WIN_LG2 + 32 - Math.clz32(this.winHi);
    return last < 1 ? 1 : flsLg2(last) + 1;
  }

  /** check_map_range + increase_top (dynamic top). */
  private checkMapRange(va: number, last: number, leafLevel: number): number {
    const g = this.g;
    if (!g.dynamicTop) {
      // pt_check_range (a wide range was checked at the boundary, see wide())
      if (this.winHi !== 0) return 0;
      return va >= this.vaLimit || last >= this.lastLimit || va < 0 ? -ERANGE : 0;
    }
    // increase_top: add levels until the range and the leaf level fit (nothing is flushed: a walk
    // cache stays correct when a level is added on top).
    const need = this.neededVaBits(last);
    while (need > g.vaBits || leafLevel > this.topLevel) {
      const nl = this.topLevel + 1;
      if (nl > g.maxTopLevel || (g.itemLg2[nl] as number) >= g.maxVaBits) return -ERANGE;
      const t = this.allocTable(nl);
      if (t === 0) return -ENOMEM;
      this.writeTableEntry(t >>> 2, nl, this.root);
      this.flush(t, 8);
      this.root = t;
      this.topLevel = nl;
      g.topLevel = nl;
      g.vaBits = vaBitsAtTop(g, nl);
      if (this.winHi === 0) this.setNumberLimits();
      if (this.onChangeTop !== null) this.onChangeTop(this.rootHw, nl);
    }
    return 0;
  }

  /** __map_single_page fast path: returns 0, -EADDRINUSE, or 1 to take the slow path. */
  private mapSingle4k(va: number, oa: number): number {
    const u = this.u32;
    const f = this.fmt;
    let table = this.root;
    for (let level = this.topLevel; level > 0; level--) {
      const w = (table >>> 2) + 2 * this.index(va, level);
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      if (f.entryType(lo, hi, level) !== PT_ENTRY_TABLE) return 1;
      table = this.tablePa(lo, hi);
    }
    const w = (table >>> 2) + 2 * this.index(va, 0);
    if (f.entryType(u[w] as number, u[w + 1] as number, 0) !== PT_ENTRY_EMPTY) return -EADDRINUSE;
    f.writeLeaves(u, w, 1, oa, 12, 12, 0, this.attrs[0] as number, this.attrs[1] as number);
    return 0;
  }

  /** __map_range: walk down to the table at `level` for va, creating tables (returns its PA or -errno). */
  private descendForMap(va: number, level: number): number {
    const u = this.u32;
    const f = this.fmt;
    let table = this.root;
    for (let l = this.topLevel; l > level; l--) {
      const w = (table >>> 2) + 2 * this.index(va, l);
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      const type = f.entryType(lo, hi, l);
      if (type === PT_ENTRY_EMPTY) {
        // pt_iommu_new_table
        const child = this.allocTable(l - 1);
        if (child === 0) return -ENOMEM;
        this.writeTableEntry(w, l, child);
        this.flush(w * 4, 8);
        table = child;
      } else if (type !== PT_ENTRY_TABLE) {
        return -EADDRINUSE;
      } else {
        table = this.tablePa(lo, hi);
      }
    }
    return table;
  }

  /**
   * __map_range_leaf: write `n` leaves of 2^lg2 (each 2^runLg2 entries) from
   * index idx. A slot holding an empty table is freed through the gather
   * (clear_contig); any other non-empty slot stops the run with
   * this.err = -EADDRINUSE. Returns the number of leaves written.
   */
  private fillLeaves(table: number, level: number, idx: number, n: number, runLg2: number, oa: number, lg2: number, gather: IotlbGather): number {
    const u = this.u32;
    const f = this.fmt;
    const base = (table >>> 2) + 2 * idx;
    const rep = POW2[runLg2] as number;
    this.err = 0;
    let k = 0;
    if (rep === 1) {
      // One entry per leaf: find the first non-zero word pair in one pass (a run
      // over empty slots, the common case, touches each entry once here).
      const end = base + 2 * n;
      let w = base;
      while (w < end && ((u[w] as number) | (u[w + 1] as number)) === 0) w += 2;
      k = (w - base) / 2;
    }
    for (; k < n; k++) {
      const w0 = base + 2 * k * rep;
      let busy = false;
      for (let r = 0; r < rep; r++) {
        const w = w0 + 2 * r;
        const lo = u[w] as number;
        const hi = u[w + 1] as number;
        if ((lo === 0 && hi === 0) || f.entryType(lo, hi, level) === PT_ENTRY_EMPTY) continue;
        if (!this.clearSlotForLeaf(w, level, gather)) {
          busy = true;
          break;
        }
      }
      if (busy) {
        this.err = -EADDRINUSE;
        break;
      }
    }
    if (k > 0) {
      f.writeLeaves(u, base, k, oa, lg2, this.itemLg2[level] as number, level, this.attrs[0] as number, this.attrs[1] as number);
      this.flush(base * 4, k * rep * 8);
    }
    return k;
  }

  /** clear_contig for one slot: an empty table subtree is unlinked and freed through the gather; else refuse. */
  private clearSlotForLeaf(w: number, level: number, gather: IotlbGather): boolean {
    const u = this.u32;
    const lo = u[w] as number;
    const hi = u[w + 1] as number;
    if (this.fmt.entryType(lo, hi, level) !== PT_ENTRY_TABLE) return false;
    const child = this.tablePa(lo, hi);
    if (!this.subtreeEmpty(child, level - 1)) return false;
    this.freeSubtree(child, level - 1, gather);
    u[w] = 0;
    u[w + 1] = 0;
    this.flush(w * 4, 8);
    return true;
  }

  private subtreeEmpty(table: number, level: number): boolean {
    const u = this.u32;
    const f = this.fmt;
    const n = this.entries[level] as number;
    const base = table >>> 2;
    for (let i = 0; i < n; i++) {
      const lo = u[base + 2 * i] as number;
      const hi = u[base + 2 * i + 1] as number;
      if (lo === 0 && hi === 0) continue;
      const type = f.entryType(lo, hi, level);
      if (type === PT_ENTRY_OA) return false;
      if (type === PT_ENTRY_TABLE && !this.subtreeEmpty(this.tablePa(lo, hi), level - 1)) return false;
    }
    return true;
  }

  /** __collect_tables: every table below `table`, and the table itself, onto the gather's free list. */
  protected freeSubtree(table: number, level: number, gather: IotlbGather): void {
    if (level > 0) {
      const u = this.u32;
      const f = this.fmt;
      const n = this.entries[level] as number;
      const base = table >>> 2;
      for (let i = 0; i < n; i++) {
        const lo = u[base + 2 * i] as number;
        const hi = u[base + 2 * i + 1] as number;
        if ((lo !== 0 || hi !== 0) && f.entryType(lo, hi, level) === PT_ENTRY_TABLE) this.freeSubtree(this.tablePa(lo, hi), level - 1, gather);
      }
    }
    gather.addTable(level, table, this.tableOrder[level] as number);
  }

  // ----------------------------------------------------------------- unmap

  /**
   * __iommu_unmap's driver step without the sync. generic_pt unmap_range:
   * remove leaves from iova until len is covered or a hole is met. Returns
   * bytes unmapped (may exceed len when the range ends inside a leaf; 0 when
   * it starts inside a large leaf). Fully covered tables go on the gather
   * free list. The caller syncs.
   */
  unmapNoSync(iova: number, len: number, gather: IotlbGather): number {
    if (!(len > 0) || iova < 0) return 0;
    const last = iova + len - 1;
    if (iova >= this.vaLimit || last >= this.lastLimit) return 0; // make_range: pt_check_range
    this.unmapped = 0;
    this.unmapLevel(this.root, this.topLevel, iova, last, gather);
    gather.addRange(iova, this.unmapped);
    this.mappedBytes -= this.unmapped;
    return this.unmapped;
  }

  /** iommu_unmap: unmap + iotlb sync (frees tables after the flush). */
  unmap(iova: number, len: number): number {
    const gather = this.scratch;
    gather.reset();
    const n = this.unmapNoSync(iova, len, gather);
    this.sync(gather);
    return n;
  }

  /** iommu_iotlb_sync: flush through the owner's invalidation model, then free tables. */
  sync(gather: IotlbGather): void {
    if (!gather.empty || gather.freelist.length > 0) {
      if (this.onFlush !== null) this.onFlush(gather);
    }
    const fl = gather.freelist;
    for (let i = 0; i < fl.length; i += 2) this.freeTable(fl[i] as number, fl[i + 1] as number);
    gather.reset();
  }

  /** __unmap_range for one table; returns 0 or -EINVAL (stop). */
  private unmapLevel(table: number, level: number, va: number, last: number, gather: IotlbGather): number {
    const u = this.u32;
    const f = this.fmt;
    const item = this.itemSize[level] as number;
    const base = table >>> 2;
    let i = this.index(va, level);
    const end = this.index(last, level);
    let first = true;
    let entryVa = Math.floor(va / item) * item;
    while (i <= end) {
      const w = base + 2 * i;
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      const type = lo === 0 && hi === 0 ? PT_ENTRY_EMPTY : f.entryType(lo, hi, level);
      if (type === PT_ENTRY_EMPTY) return -EINVAL;
      if (type === PT_ENTRY_TABLE) {
        const childVa = first ? va : entryVa;
        const entryLast = entryVa + item - 1;
        const childLast = entryLast < last ? entryLast : last;
        const covered = childVa === entryVa && childLast === entryLast;
        const child = this.tablePa(lo, hi);
        const r = this.unmapLevel(child, level - 1, childVa, childLast, gather);
        if (r !== 0) return r;
        if (covered) {
          gather.addTable(level - 1, child, this.tableOrder[level - 1] as number);
          u[w] = 0;
          u[w + 1] = 0;
          this.flush(w * 4, 8);
        }
        i++;
        entryVa += item;
        first = false;
        continue;
      }
      const runLg2 = f.contigLg2(lo, hi, level);
      if (runLg2 === 0) {
        if (first && modPow2(va, item) !== 0) return -EINVAL; // starts inside a large leaf
        // Clear the run of single-entry leaves up to the end or the next non-leaf.
        const s = i;
        u[w] = 0;
        u[w + 1] = 0;
        i++;
        while (i <= end) {
          const wl = base + 2 * i;
          const l2 = u[wl] as number;
          const h2 = u[wl + 1] as number;
          if ((l2 === 0 && h2 === 0) || f.entryType(l2, h2, level) !== PT_ENTRY_OA || f.contigLg2(l2, h2, level) !== 0) break;
          u[wl] = 0;
          u[wl + 1] = 0;
          i++;
        }
        this.flush((base + 2 * s) * 4, (i - s) * 8);
        gather.addLeaf(level, this.itemLg2[level] as number);
        this.unmapped += (i - s) * item;
        entryVa += (i - s) * item;
        first = false;
        continue;
      }
      const rep = 2 ** runLg2;
      if (first && modPow2(va, item * rep) !== 0) return -EINVAL; // starts inside a large leaf
      const s = i - (i % rep);
      u.fill(0, base + 2 * s, base + 2 * (s + rep));
      this.flush((base + 2 * s) * 4, rep * 8);
      gather.addLeaf(level, (this.itemLg2[level] as number) + runLg2);
      this.unmapped += rep * item;
      i = s + rep;
      entryVa = Math.floor(entryVa / (item * rep)) * (item * rep) + item * rep;
      first = false;
    }
    return 0;
  }

  // ------------------------------------------------------------ lookups

  /** iova_to_phys: OA + offset, or 0 when not mapped. */
  iovaToPhys(iova: number): number {
    const w = this.findLeaf(iova);
    if (w < 0) return 0;
    const level = this.lastLevel;
    const u = this.u32;
    const lo = u[w] as number;
    const hi = u[w + 1] as number;
    const size = (this.itemSize[level] as number) * (POW2[this.fmt.contigLg2(lo, hi, level)] as number);
    return this.fmt.leafOa(lo, hi, level) + modPow2(iova, size);
  }

  /** Find the leaf for iova: returns the word index of its entry and sets lastLevel, or -1. */
  lastLevel = 0;
  findLeaf(iova: number): number {
    if (!(iova >= 0) || iova >= this.vaLimit) return -1;
    const u = this.u32;
    const f = this.fmt;
    let table = this.root;
    for (let level = this.topLevel; level >= 0; level--) {
      const w = (table >>> 2) + 2 * this.index(iova, level);
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      const type = f.entryType(lo, hi, level);
      if (type === PT_ENTRY_EMPTY) return -1;
      if (type === PT_ENTRY_TABLE) {
        table = this.tablePa(lo, hi);
        continue;
      }
      this.lastLevel = level;
      return w;
    }
    return -1;
  }

  /** The leaf covering iova: start IOVA, size, PA of the start, prot; null if none. */
  lookupLeaf(iova: number): { iova: number; size: number; pa: number; prot: number } | null {
    const w = this.findLeaf(iova);
    if (w < 0) return null;
    const level = this.lastLevel;
    const lo = this.u32[w] as number;
    const hi = this.u32[w + 1] as number;
    const size = (this.itemSize[level] as number) * 2 ** this.fmt.contigLg2(lo, hi, level);
    const start = iova - modPow2(iova, size);
    return { iova: start, size, pa: this.fmt.leafOa(lo, hi, level), prot: this.fmt.leafProt(lo, hi) };
  }

  // ---------------------------------------------------------------- dirty

  /**
   * read_and_clear_dirty: record every dirty leaf in [iova, iova+size) at its
   * full size, cleaning it unless flags has IOMMU_DIRTY_NO_CLEAR; the cleaned
   * ranges are added to `gather` (caller syncs). Returns 0 or -errno
   * (-EOPNOTSUPP when the format has no write-dirty tracking).
   */
  readAndClearDirty(iova: number, size: number, flags: number, rec: DirtyRecorder | null, gather: IotlbGather): number {
    if (!this.fmt.hasDirty) return -EOPNOTSUPP;
    if (!(size > 0)) return -EINVAL;
    const last = iova + size - 1;
    if (iova >= this.vaLimit || last >= this.lastLimit) return -ERANGE;
    this.dirtyLevel(this.root, this.topLevel, iova, last, (flags & IOMMU_DIRTY_NO_CLEAR) === 0, rec, gather);
    return 0;
  }

  private dirtyLevel(table: number, level: number, va: number, last: number, clear: boolean, rec: DirtyRecorder | null, gather: IotlbGather): void {
    const u = this.u32;
    const f = this.fmt;
    const item = this.itemSize[level] as number;
    const base = table >>> 2;
    let i = this.index(va, level);
    const end = this.index(last, level);
    let entryVa = Math.floor(va / item) * item;
    while (i <= end) {
      const w = base + 2 * i;
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      const type = lo === 0 && hi === 0 ? PT_ENTRY_EMPTY : f.entryType(lo, hi, level);
      if (type === PT_ENTRY_TABLE) {
        const cva = entryVa > va ? entryVa : va;
        const el = entryVa + item - 1;
        this.dirtyLevel(this.tablePa(lo, hi), level - 1, cva, el < last ? el : last, clear, rec, gather);
      }
      if (type !== PT_ENTRY_OA) {
        i++;
        entryVa += item;
        continue;
      }
      // pt_entry_is_write_dirty / make_write_clean cover every member of a contiguous run.
      const runLg2 = f.contigLg2(lo, hi, level);
      if (runLg2 === 0) {
        if (f.isWriteDirty(lo, hi)) {
          if (rec !== null) rec.record(entryVa, item);
          if (clear) {
            f.makeWriteClean(u, w);
            this.flush(w * 4, 8);
            gather.addRange(entryVa, item);
            gather.addLeaf(level, this.itemLg2[level] as number);
          }
        }
        i++;
        entryVa += item;
        continue;
      }
      const rep = 1 << runLg2;
      const s = i - (i % rep);
      const runSize = rep * item;
      const runVa = entryVa - (i - s) * item;
      let dirty = false;
      for (let r = 0; r < rep; r++) if (f.isWriteDirty(u[base + 2 * (s + r)] as number, u[base + 2 * (s + r) + 1] as number)) dirty = true;
      if (dirty) {
        if (rec !== null) rec.record(runVa, runSize);
        if (clear) {
          for (let r = 0; r < rep; r++) f.makeWriteClean(u, base + 2 * (s + r));
          this.flush((base + 2 * s) * 4, rep * 8);
          gather.addRange(runVa, runSize);
          gather.addLeaf(level, (this.itemLg2[level] as number) + runLg2);
        }
      }
      // pt_next_entry: to the end of the run
      i = s + rep;
      entryVa = runVa + runSize;
    }
  }

  /** The selftest's set_dirty hook (generic_pt set_dirty): mark the leaf at iova dirty; -ENOENT if none. */
  setDirty(iova: number): number {
    if (!this.fmt.hasDirty) return -EOPNOTSUPP;
    if (!(iova >= 0) || iova >= this.vaLimit) return -ERANGE;
    const w = this.findLeaf(iova);
    if (w < 0) return -ENOENT;
    this.fmt.makeWriteDirty(this.u32, w);
    this.flush(w * 4, 8);
    return 0;
  }

  // ------------------------------------------------------------ wide IOVAs

  /** Limits of plain-number IOVAs: 2^vaBits (the first IOVA: the lower half when sign-extended), at most 2^53. */
  protected setNumberLimits(): void {
    this.vaLimit = Math.min(2 ** (this.g.vaBits - (this.g.signExtend ? 1 : 0)), 2 ** 53);
    this.lastLimit = Math.min(2 ** this.g.vaBits, 2 ** 53);
  }

  /**
   * pt_check_range on a 64-bit range: both ends agree with the prefix above the
   * VA width (0, or with sign extension all ones when the first IOVA's sign bit is set).
   */
  protected rangeInVa(first: bigint, last: bigint, bits: number): boolean {
    if (last >= 1n << 64n) return false;
    const vb = BigInt(bits);
    if (vb >= 64n) return true;
    let want = 0n;
    if (this.g.signExtend && first >> (vb - 1n) !== 0n) want = (1n << (64n - vb)) - 1n;
    return first >> vb === want && last >> vb === want;
  }

  /**
   * Run `fn(lo, len)` per 2^52 window of [iova, iova+len); stops when fn
   * returns < len or < 0. The range is checked against the VA space here
   * (maps of a dynamic-top table against the largest VA it may grow to);
   * inside a window no further VA check is made. Maps add their progress to
   * `mapped`.
   */
  protected wide(iova: bigint, len: number, fn: (lo: number, len: number) => number, isMap: boolean): number {
    const last = iova + BigInt(len) - 1n;
    const bits = isMap && this.g.dynamicTop ? this.g.maxVaBits : this.g.vaBits;
    if (!this.rangeInVa(iova, last, bits)) return isMap ? -ERANGE : 0;
    const M = BigInt(WIN);
    let done = 0;
    while (done < len) {
      const cur = iova + BigInt(done);
      const hi = Number(cur >> BigInt(WIN_LG2));
      const lo = Number(cur % M);
      const chunk = Math.min(len - done, WIN - lo);
      this.winHi = hi;
      if (hi === 0) this.setNumberLimits();
      else this.vaLimit = this.lastLimit = WIN;
      let r: number;
      try {
        r = fn(lo, chunk);
      } finally {
        this.winHi = 0;
        this.setNumberLimits();
      }
      if (isMap) {
        done += this.mapped;
        if (r !== 0) {
          this.mapped = done;
          return r;
        }
      } else {
        if (r <= 0) return done;
        done += r;
        if (r < chunk) return done;
      }
    }
    if (isMap) this.mapped = done;
    return isMap ? 0 : done;
  }

  /**
   * map with a 64-bit IOVA (bigint only at this boundary). Ranges are split at
   * 2^52 boundaries. Returns 0/-errno; `mapped` as map().
   */
  mapWide(iova: bigint, pa: number, len: number, prot: number): number {
    this.mapped = 0;
    if (iova < 0n) return -ERANGE;
    if (len > 0 && iova + BigInt(len) - 1n >= 1n << 64n) return -EOVERFLOW; // make_range: check_add_overflow
    if (iova + BigInt(len) <= 2n ** 53n && !(this.g.signExtend && iova >= 2n ** 63n)) return this.map(Number(iova), pa, len, prot);
    let oa = pa;
    return this.wide(
      iova,
      len,
      (lo, n) => {
        const r = this.map(lo, oa, n, prot);
        oa += this.mapped;
        return r;
      },
      true,
    );
  }

  /** unmapNoSync with a 64-bit IOVA; windows above 2^52 mark the gather wide (domain-selective flush). */
  unmapWideNoSync(iova: bigint, len: number, gather: IotlbGather): number {
    if (len > 0 && iova + BigInt(len) - 1n >= 1n << 64n) return 0;
    if (iova + BigInt(len) <= 2n ** 53n) return this.unmapNoSync(Number(iova), len, gather);
    return this.wide(
      iova,
      len,
      (lo, n) => {
        if (this.winHi !== 0) gather.wide = true;
        return this.unmapNoSync(lo, n, gather);
      },
      false,
    );
  }

  /** iova_to_phys with a 64-bit IOVA. */
  iovaToPhysWide(iova: bigint): number {
    if (iova < 2n ** 53n) return this.iovaToPhys(Number(iova));
    let pa = 0;
    this.wide(iova, 1, (lo) => ((pa = this.iovaToPhys(lo)), 1), false);
    return pa;
  }

  /** set_dirty with a 64-bit IOVA. */
  setDirtyWide(iova: bigint): number {
    if (iova < 2n ** 53n) return this.setDirty(Number(iova));
    let rc = -ERANGE;
    this.wide(iova, 1, (lo) => ((rc = this.setDirty(lo)), 1), false);
    return rc;
  }

  /** read_and_clear_dirty with a 64-bit IOVA; the recorder gets bigint IOVAs. */
  readAndClearDirtyWide(
    iova: bigint,
    size: number,
    flags: number,
    rec: { record(iova: bigint, length: number): void } | null,
    gather: IotlbGather,
  ): number {
    if (!this.fmt.hasDirty) return -EOPNOTSUPP;
    let rc = 0;
    this.wide(
      iova,
      size,
      (lo, n) => {
        const base = BigInt(this.winHi) << BigInt(WIN_LG2);
        if (this.winHi !== 0) gather.wide = true;
        const r = rec === null ? null : { record: (a: number, l: number) => rec.record(base + BigInt(a), l) };
        rc = this.readAndClearDirty(lo, n, flags, r, gather);
        return rc === 0 ? n : -1;
      },
      false,
    );
    return rc;
  }

  // ------------------------------------------------------------ whole-table

  /** Number of leaves (a replicated/contiguous run counts once), as kunit count_valids. */
  countLeaves(): number {
    return this.countLevel(this.root, this.topLevel);
  }

  private countLevel(table: number, level: number): number {
    const u = this.u32;
    const f = this.fmt;
    const n = this.entries[level] as number;
    const base = table >>> 2;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const lo = u[base + 2 * i] as number;
      const hi = u[base + 2 * i + 1] as number;
      if (lo === 0 && hi === 0) continue;
      const type = f.entryType(lo, hi, level);
      if (type === PT_ENTRY_TABLE) c += this.countLevel(this.tablePa(lo, hi), level - 1);
      else if (type === PT_ENTRY_OA) {
        c++;
        i += 2 ** f.contigLg2(lo, hi, level) - 1;
      }
    }
    return c;
  }

  /** Free every table page (deinit). The caller must have detached/flushed devices. */
  destroy(): void {
    if (this.root === 0) return;
    const gather = this.scratch;
    gather.reset();
    this.freeSubtree(this.root, this.topLevel, gather);
    const fl = gather.freelist;
    for (let i = 0; i < fl.length; i += 2) this.freeTable(fl[i] as number, fl[i + 1] as number);
    gather.reset();
    this.root = 0;
    this.mappedBytes = 0;
  }
}

export { ctz };
