/**
 * The IO page-table engine: one radix table of a hardware format, stored as
 * little-endian 64-bit PTEs (two u32 words) in simulated physical memory.
 * Mirrors drivers/iommu/generic_pt/iommu_pt.h (map_range, unmap_range,
 * iova_to_phys, read_and_clear_dirty) with the format bit layouts of
 * generic_pt/fmt/*.h and io-pgtable-arm.c.
 *
 * Hot paths use numbers only (IOVA/OA exact below 2^53), no per-PTE objects.
 * Formats are dispatched with `switch (this.kind)` on small ints so one class
 * shape serves every format.
 */
import { EADDRINUSE, EEXIST, EINVAL, ENOENT, ENOMEM, ENXIO, ERANGE } from '../iommu/errno.ts';
import { KIND_TABLE, type PhysMemory } from '../iommu/physmem.ts';
import {
  IOMMU_CACHE,
  IOMMU_NOEXEC,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_WRITE,
  K_AMDV1,
  K_ARM_S1,
  K_ARM_S2,
  K_MOCK,
  K_VTDSS,
  K_X86,
  vaBitsAtTop,
  type PtGeometry,
} from './format.ts';
import { IotlbGather } from './gather.ts';
import { bestPgsizeLg2, ctz, modPow2, POW2 } from './pgsize.ts';

const TWO32 = 4294967296;
export const IOMMU_DIRTY_NO_CLEAR = 1;

/** Receives dirty IOVA ranges (iommu_dirty_bitmap_record). */
export interface DirtyRecorder {
  record(iova: number, length: number): void;
}

/** Called by sync with the gather before the gathered table pages are freed. */
export type FlushHook = (gather: IotlbGather) => void;
/** Called when the top level changes (AMD DTE root/mode rewrite, change_top). */
export type ChangeTopHook = (rootPa: number, topLevel: number) => void;

export class IoPageTable {
  readonly g: PtGeometry;
  readonly mem: PhysMemory;
  readonly kind: number;
  private readonly u32: Uint32Array;
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
  private readonly itemSize: Float64Array;
  private readonly idxMask: Int32Array;
  private readonly pmask: number;
  /** 2^vaBits, cached (changes with the top). */
  private vaLimit: number;
  private readonly oaLimit: number;
  /** Wide-IOVA window: bits 63:48 of the IOVAs of the current operation (0 = plain numbers). */
  private winHi = 0;
  /** First level whose entries span >= 2^48 (99 if none), and 2^(itemLg2-48) per level. */
  private readonly hiLevel: number;
  private readonly hiDiv: Float64Array;
  private readonly signExtend: boolean;
  /** Map over a present entry: generic_pt (VT-d, x86, AMD, mock) -EADDRINUSE; io-pgtable-arm -EEXIST. */
  readonly overlapErr: number;
  private readonly levelOfLg2: Int8Array;
  private readonly itemLg2: Int32Array;
  private readonly entries: Int32Array;
  private readonly contigLg2: Int32Array;
  private readonly addrScale: number;
  private readonly granLg2: number;
  private readonly pgsizesLg2: number[];
  /** FORCE_COHERENCE feature: leaves carry VT-d SNP / AMD FC. */
  private coherent = false;
  /** Leaf attribute templates per prot value 0..63 (pt_iommu_set_prot, precomputed). */
  private readonly protLo = new Int32Array(64);
  private readonly protHi = new Int32Array(64);
  private readonly minPg: number;
  private readonly tableOrder: number[];
  private readonly ncoh: boolean;
  private readonly bias: number;
  private readonly addrHiMask: number;
  private readonly hasPage4k: boolean;
  /** Leaf attribute template for the current map() call. */
  private aLo = 0;
  private aHi = 0;
  private err = 0;
  private unmapped = 0;
  private readonly scratch = new IotlbGather();

  private constructor(mem: PhysMemory, g: PtGeometry) {
    this.g = g;
    this.mem = mem;
    this.kind = g.kind;
    this.u32 = mem.u32;
    this.topLevel = g.topLevel;
    this.itemSize = Float64Array.from(g.itemLg2.map((l) => 2 ** l));
    this.idxMask = Int32Array.from(g.entries.map((n) => n - 1));
    this.pmask = g.kind === K_VTDSS ? 3 : 1;
    // Numbers are exact below 2^53: IOVAs above are out of range for this core.
    this.vaLimit = 0;
    this.oaLimit = 2 ** g.oaBits;
    this.levelOfLg2 = g.levelOfLg2;
    this.hiLevel = g.itemLg2.findIndex((l) => l >= 48);
    if (this.hiLevel < 0) this.hiLevel = 99;
    this.hiDiv = Float64Array.from(g.itemLg2.map((l) => 2 ** Math.max(0, l - 48)));
    this.signExtend = g.signExtend;
    this.overlapErr = g.kind === K_ARM_S1 || g.kind === K_ARM_S2 ? -EEXIST : -EADDRINUSE;
    this.vaLimit = this.numberVaLimit();
    this.itemLg2 = Int32Array.from(g.itemLg2);
    this.entries = Int32Array.from(g.entries);
    this.contigLg2 = Int32Array.from(g.contigLg2);
    this.addrScale = g.addrScale;
    this.granLg2 = g.granLg2;
    this.pgsizesLg2 = g.pgsizes;
    this.coherent = g.coherent;
    this.buildProtTemplates();
    this.minPg = 2 ** (g.pgsizes[0] as number);
    this.tableOrder = g.tableBytes.map((b) => Math.ceil(Math.log2(Math.max(b, 4096) / 4096)));
    this.ncoh = g.nonCoherentWalk;
    this.bias = g.tablePtrBias;
    this.addrHiMask = g.kind === K_ARM_S1 || g.kind === K_ARM_S2 ? 0xffff : 0xfffff;
    this.hasPage4k = g.granLg2 === 12 && g.levelOfLg2[12] === 0;
    if (this.ncoh) mem.enableNonCoherentView();
  }

  /** Allocate an empty table (the top). Returns the table or -ENOMEM. */
  static create(mem: PhysMemory, g: PtGeometry): IoPageTable | number {
    const t = new IoPageTable(mem, g);
    const root = t.allocTable(g.topLevel);
    if (root === 0) return -ENOMEM;
    t.root = root;
    return t;
  }

  /** The root pointer as the hardware sees it (DTE/context/TTBR/VTTBR). */
  get rootHw(): number {
    return this.root + this.bias;
  }

  /** Page sizes (bytes) the domain advertises (pgsize_bitmap as a list). */
  get pgsizes(): number[] {
    return this.pgsizesLg2.map((l) => 2 ** l);
  }

  // ---------------------------------------------------------------- memory

  private allocTable(level: number): number {
    if (this.allocFail !== null && this.allocFail()) return 0;
    const order = this.tableOrder[level] as number;
    const pa = this.mem.allocPages(order, KIND_TABLE);
    if (pa !== 0) this.tablePages += 2 ** order;
    if (pa !== 0 && this.ncoh) this.mem.syncForDevice(pa, (this.g.tableBytes[level] as number));
    return pa;
  }

  private flush(pa: number, bytes: number): void {
    if (this.ncoh) this.mem.syncForDevice(pa, bytes);
  }

  /**
   * Index of `va` in a table at `level`. Exact for va < 2^53 (power-of-two
   * division). In a wide window (winHi != 0) va is the low 48 bits and levels
   * whose entries span >= 2^48 take their index from winHi.
   */
  private index(va: number, level: number): number {
    if (this.winHi !== 0 && level >= this.hiLevel) {
      return (this.winHi / (this.hiDiv[level] as number)) & (this.idxMask[level] as number);
    }
    return (va / (this.itemSize[level] as number)) & (this.idxMask[level] as number);
  }

  // -------------------------------------------------------------- encoding

  /** Is a present entry at `level` a table pointer? (pt_load_entry_raw) */
  isTable(lo: number, level: number): boolean {
    if (level === 0) return false;
    switch (this.kind) {
      case K_VTDSS:
      case K_X86:
        return (lo & 0x80) === 0;
      case K_AMDV1:
      case K_MOCK: {
        const nl = (lo >>> 9) & 7;
        return nl !== 0 && nl !== 7;
      }
      default:
        return (lo & 2) !== 0;
    }
  }

  present(lo: number): boolean {
    return (lo & this.pmask) !== 0;
  }

  /** Table PA from a table entry (pt_table_pa), removing the IPA bias. */
  tablePa(lo: number, hi: number): number {
    const a = (hi & this.addrHiMask) * TWO32 + ((lo & 0xfffff000) >>> 0);
    return a / this.addrScale - this.bias;
  }

  private writeTableEntry(w: number, level: number, childPa: number): void {
    const a = (childPa + this.bias) * this.addrScale;
    const alo = a >>> 0;
    const ahi = (a - alo) / TWO32;
    let lo: number;
    let hi = ahi;
    switch (this.kind) {
      case K_VTDSS:
        lo = alo | 3; // R|W
        break;
      case K_X86:
        lo = alo | 0x27; // P|RW|US|A
        break;
      case K_AMDV1:
      case K_MOCK:
        lo = alo | 1 | (level << 9); // PR | NextLevel = level of child + 1
        hi |= 0x60000000; // IR|IW
        break;
      default:
        lo = alo | 3; // valid | table
        break;
    }
    this.u32[w] = lo;
    this.u32[w + 1] = hi;
  }

  private buildProtTemplates(): void {
    for (let p = 0; p < 64; p++) {
      this.computeProt(p);
      this.protLo[p] = this.aLo;
      this.protHi[p] = this.aHi;
    }
  }

  /**
   * intel_iommu_enforce_cache_coherency: set PT_FEAT_*_FORCE_COHERENCE so later
   * maps carry SNP (VT-d SS) / FC (AMD v1); existing leaves are not rewritten.
   * Returns false for formats without a per-PTE snoop bit.
   */
  enforceCacheCoherency(): boolean {
    if (this.kind !== K_VTDSS && this.kind !== K_AMDV1) return false;
    this.coherent = true;
    this.buildProtTemplates();
    return true;
  }

  get forceCoherent(): boolean {
    return this.coherent;
  }

  private setProt(prot: number): void {
    this.aLo = this.protLo[prot & 63] as number;
    this.aHi = this.protHi[prot & 63] as number;
  }

  /** Compute the leaf attribute template (pt_iommu_set_prot). */
  private computeProt(prot: number): void {
    const g = this.g;
    let lo = 0;
    let hi = 0;
    switch (this.kind) {
      case K_VTDSS:
        if (prot & IOMMU_READ) lo |= 1;
        if (prot & IOMMU_WRITE) lo |= 2;
        if (this.coherent) lo |= 0x800; // SNP
        break;
      case K_X86:
        lo = 0x25; // P|US|A
        if (prot & IOMMU_WRITE) lo |= 0x42; // RW|D (pre-dirtied)
        if (prot & IOMMU_NOEXEC) hi |= 0x80000000; // XD
        break;
      case K_AMDV1:
      case K_MOCK:
        lo = 1;
        if (this.coherent) hi |= 0x10000000; // FC
        if (prot & IOMMU_READ) hi |= 0x20000000; // IR
        if (prot & IOMMU_WRITE) hi |= 0x40000000; // IW
        break;
      case K_ARM_S1:
        // arm_lpae_prot_to_pte: nG, AP_UNPRIV unless PRIV, RDONLY or DBM, AF, SH_IS, AttrIndx.
        lo = 0x800 | 0x400 | 0x300;
        if (!(prot & IOMMU_PRIV)) lo |= 0x40;
        if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) lo |= 0x80;
        else if (g.dirty) hi |= 1 << 19; // DBM: writable-dirty at creation
        if (prot & IOMMU_CACHE) lo |= 1 << 2; // MAIR index 1 (cacheable)
        if (prot & IOMMU_NOEXEC) hi |= 1 << 22; // XN
        break;
      default: // K_ARM_S2
        lo = 0x400 | 0x300;
        if (prot & IOMMU_READ) lo |= 0x40;
        if (prot & IOMMU_WRITE) {
          lo |= 0x80;
          if (g.dirty) hi |= 1 << 19;
        }
        lo |= prot & IOMMU_CACHE ? 0xf << 2 : 0x5 << 2; // MemAttr WB / NC
        if (prot & IOMMU_NOEXEC) hi |= 1 << 22;
        break;
    }
    this.aLo = lo;
    this.aHi = hi;
  }

  /** Extra bits a leaf carries at `level` (PS / NextLevel / block-vs-page / CONT). */
  private leafLevelBits(level: number, multi: boolean): number {
    switch (this.kind) {
      case K_VTDSS:
      case K_X86:
        return level > 0 ? 0x80 : 0;
      case K_AMDV1:
      case K_MOCK:
        return multi ? 7 << 9 : 0;
      default:
        return level === 0 ? 3 : 1;
    }
  }

  /** log2 of the number of entries in the leaf run containing this entry (pt_entry_num_contig_lg2). */
  leafRunLg2(lo: number, hi: number, level: number): number {
    switch (this.kind) {
      case K_AMDV1:
      case K_MOCK: {
        if (((lo >>> 9) & 7) !== 7) return 0;
        // Ones run starting at entry bit 12 + (item - granule); num_contig = ffz + 1.
        const shift = (this.itemLg2[level] as number) - this.granLg2;
        const field = (hi & 0xfffff) * 1048576 + (lo >>> 12); // OA field, granule units (< 2^40)
        let t = 0;
        let f = Math.floor(field / 2 ** shift);
        while (f % 2 === 1) {
          t++;
          f = (f - 1) / 2;
        }
        return t + 1;
      }
      case K_ARM_S1:
      case K_ARM_S2:
        return hi & (1 << 20) ? (this.contigLg2[level] as number) : 0;
      default:
        return 0;
    }
  }

  /** Output address of the start of the leaf run (pt_entry_oa). */
  leafOa(lo: number, hi: number, level: number): number {
    let a = (hi & this.addrHiMask) * TWO32 + ((lo & 0xfffff000) >>> 0);
    if ((this.kind === K_AMDV1 || this.kind === K_MOCK) && ((lo >>> 9) & 7) === 7) {
      const runLg2 = this.leafRunLg2(lo, hi, level);
      const sz = 2 ** ((this.itemLg2[level] as number) + runLg2) * this.addrScale;
      a = Math.floor(a / sz) * sz;
    }
    return a / this.addrScale;
  }

  /** Is this leaf write-dirty (pt_entry_is_write_dirty, single entry)? */
  entryDirty(lo: number, hi: number): boolean {
    switch (this.kind) {
      case K_VTDSS:
        return (lo & 0x200) !== 0;
      case K_X86:
      case K_AMDV1:
      case K_MOCK:
        return (lo & 0x40) !== 0;
      case K_ARM_S1:
        return (hi & (1 << 19)) !== 0 && (lo & 0x80) === 0;
      default:
        return (hi & (1 << 19)) !== 0 && (lo & 0x80) !== 0;
    }
  }

  private cleanEntry(w: number): void {
    const u = this.u32;
    switch (this.kind) {
      case K_VTDSS:
        u[w] = (u[w] as number) & ~0x200;
        break;
      case K_X86:
      case K_AMDV1:
      case K_MOCK:
        u[w] = (u[w] as number) & ~0x40;
        break;
      case K_ARM_S1:
        u[w] = (u[w] as number) | 0x80;
        break;
      default:
        u[w] = (u[w] as number) & ~0x80;
        break;
    }
  }

  private dirtyEntry(w: number): void {
    const u = this.u32;
    switch (this.kind) {
      case K_VTDSS:
        u[w] = (u[w] as number) | 0x200;
        break;
      case K_X86:
      case K_AMDV1:
      case K_MOCK:
        u[w] = (u[w] as number) | 0x40;
        break;
      case K_ARM_S1:
        u[w] = (u[w] as number) & ~0x80;
        break;
      default:
        u[w] = (u[w] as number) | 0x80;
        break;
    }
  }

  // ------------------------------------------------------------------- map

  /** Largest page size for [va, last] at oa (pt_compute_best_pgsize). */
  bestPgsize(va: number, last: number, oa: number): number {
    return bestPgsizeLg2(this.pgsizesLg2, va, last, oa);
  }

  /**
   * map_range: map [iova, iova+len) to [pa, pa+len). Returns 0 or -errno; the
   * bytes mapped (also on failure) are in `this.mapped`. Does not undo partial
   * progress (the iommu core's iommu_map does; see Domain.map).
   */
  map(iova: number, pa: number, len: number, prot: number): number {
    this.mapped = 0;
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return -EINVAL;
    // PT_FEAT_VTDSS_FORCE_WRITEABLE (SPR errata, nesting parents): read-only maps are refused.
    if (this.g.forceWriteable && !(prot & IOMMU_WRITE)) return -EINVAL;
    if (pa >= this.oaLimit || pa < 0) return -ERANGE;
    if (!(len > 0) || iova < 0) return -EINVAL;
    const last = iova + len - 1;
    if (last > Number.MAX_SAFE_INTEGER) return -ERANGE;
    this.setProt(prot);
    let lg2: number;
    if (len === 4096 && this.hasPage4k) {
      if (((iova >>> 0) & 4095) + ((pa >>> 0) & 4095) !== 0) return -ENXIO;
      lg2 = 12;
    } else {
      lg2 = this.bestPgsize(iova, last, pa);
      if (lg2 === 0) return -ENXIO;
    }
    const rc = this.checkMapRange(last, this.levelOfLg2[lg2] as number);
    if (rc !== 0) return rc;
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
      if (va !== iova) lg2 = this.bestPgsize(va, va + remaining - 1, oa);
      const level = this.levelOfLg2[lg2] as number;
      const table = this.descendForMap(va, level);
      if (table < 0) {
        ret = table;
        break;
      }
      const size = POW2[lg2] as number;
      const runLg2 = lg2 - (this.itemLg2[level] as number);
      const idx = this.index(va, level);
      const fit = ((this.entries[level] as number) - idx) / (POW2[runLg2] as number);
      const n = Math.min(Math.floor(fit), this.runLength(va, oa, remaining, lg2));
      const done = this.fillLeaves(table, level, idx, n, runLg2, oa, lg2, gather);
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
        // Cannot happen when page sizes and alignment agree; never spin.
        ret = -EINVAL;
        break;
      }
    }
    if (gather.freelist.length > 0) this.sync(gather); // table->leaf conversion freed tables
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

  /** check_map_range + increase_top (dynamic top). */
  private checkMapRange(last: number, leafLevel: number): number {
    const g = this.g;
    while (last >= this.vaLimit || leafLevel > this.topLevel || (this.winHi !== 0 && !this.windowInVa())) {
      if (!g.dynamicTop) return -ERANGE;
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
      if (this.winHi === 0) this.vaLimit = this.numberVaLimit();
      // No flush by design: a walk cache stays correct when a level is added on top.
      if (this.onChangeTop !== null) this.onChangeTop(this.rootHw, nl);
    }
    return 0;
  }

  /** __map_single_page fast path: returns 0, -EADDRINUSE, or 1 to take the slow path. */
  private mapSingle4k(va: number, oa: number): number {
    const u = this.u32;
    let table = this.root;
    for (let level = this.topLevel; level > 0; level--) {
      const w = (table >>> 2) + 2 * this.index(va, level);
      const lo = u[w] as number;
      if (!this.present(lo) || !this.isTable(lo, level)) return 1;
      table = this.tablePa(lo, u[w + 1] as number);
    }
    const w = (table >>> 2) + 2 * this.index(va, 0);
    if (this.present(u[w] as number)) return this.overlapErr;
    const a = oa * this.addrScale;
    const alo = a >>> 0;
    u[w] = this.aLo | this.leafLevelBits(0, false) | alo;
    u[w + 1] = this.aHi | ((a - alo) / TWO32);
    return 0;
  }

  /** Walk down to the table at `level` for va, creating tables (returns PA or -errno). */
  private descendForMap(va: number, level: number): number {
    const u = this.u32;
    let table = this.root;
    for (let l = this.topLevel; l > level; l--) {
      const w = (table >>> 2) + 2 * this.index(va, l);
      const lo = u[w] as number;
      if (!this.present(lo)) {
        const child = this.allocTable(l - 1);
        if (child === 0) return -ENOMEM;
        this.writeTableEntry(w, l, child);
        this.flush(w * 4, 8);
        table = child;
      } else if (!this.isTable(lo, l)) {
        return this.overlapErr;
      } else {
        table = this.tablePa(lo, u[w + 1] as number);
      }
    }
    return table;
  }

  /**
   * Write `n` leaves of 2^lg2 (each 2^runLg2 entries) from index idx
   * (__map_range_leaf). Stops at an occupied slot with this.err = -EADDRINUSE;
   * empty tables in the way are freed through the gather (table -> leaf).
   * Returns the number of leaves written.
   */
  private fillLeaves(
    table: number,
    level: number,
    idx: number,
    n: number,
    runLg2: number,
    oa: number,
    lg2: number,
    gather: IotlbGather,
  ): number {
    const u = this.u32;
    const base = (table >>> 2) + 2 * idx;
    const scale = this.addrScale;
    const multi = runLg2 > 0;
    const lvlBits = this.leafLevelBits(level, multi);
    const tLo = this.aLo | lvlBits;
    let tHi = this.aHi;
    this.err = 0;
    const rep = POW2[runLg2] as number;
    const size = POW2[lg2] as number;
    const item = this.itemSize[level] as number;
    const isAmd = this.kind === K_AMDV1 || this.kind === K_MOCK;
    if (multi && !isAmd) tHi |= 1 << 20; // Arm CONT
    // AMD NextLevel=7: ones in the OA field encode the size (amdv1pt_install_leaf_entry).
    const code = multi && isAmd ? ((POW2[lg2 - this.granLg2 - 1] as number) - 1) * 4096 : 0;
    let k = 0;
    if (rep === 1) {
      // Fast run: one entry per leaf, OA advancing by `size`.
      let a = oa * scale;
      const step = size * scale;
      for (; k < n; k++) {
        const w = base + 2 * k;
        const lo = u[w] as number;
        if (lo !== 0 && this.present(lo) && !this.clearSlotForLeaf(w, level, gather)) {
          this.err = this.overlapErr;
          break;
        }
        const alo = a >>> 0;
        u[w] = tLo | alo;
        u[w + 1] = tHi | ((a - alo) / TWO32);
        a += step;
      }
    } else {
      for (; k < n; k++) {
        const w0 = base + 2 * k * rep;
        let busy = false;
        for (let r = 0; r < rep; r++) {
          const lo = u[w0 + 2 * r] as number;
          if (this.present(lo) && !this.clearSlotForLeaf(w0 + 2 * r, level, gather)) {
            busy = true;
            break;
          }
        }
        if (busy) {
          this.err = this.overlapErr;
          break;
        }
        const leafOa = oa + k * size;
        for (let r = 0; r < rep; r++) {
          // AMD replicates one value; Arm CONT entries each hold their own OA.
          const a = isAmd ? leafOa * scale + code : (leafOa + r * item) * scale;
          const alo = a >>> 0;
          u[w0 + 2 * r] = tLo | alo;
          u[w0 + 2 * r + 1] = tHi | ((a - alo) / TWO32);
        }
      }
    }
    if (k > 0) this.flush(base * 4, k * rep * 8);
    return k;
  }

  /** A present slot where a leaf should go: free it if it is an empty table, else refuse. */
  private clearSlotForLeaf(w: number, level: number, gather: IotlbGather): boolean {
    const u = this.u32;
    const lo = u[w] as number;
    if (!this.isTable(lo, level)) return false;
    const child = this.tablePa(lo, u[w + 1] as number);
    if (!this.subtreeEmpty(child, level - 1)) return false;
    this.freeSubtree(child, level - 1, gather);
    u[w] = 0;
    u[w + 1] = 0;
    this.flush(w * 4, 8);
    return true;
  }

  private subtreeEmpty(table: number, level: number): boolean {
    const u = this.u32;
    const n = this.entries[level] as number;
    const base = table >>> 2;
    for (let i = 0; i < n; i++) {
      const lo = u[base + 2 * i] as number;
      if (!this.present(lo)) continue;
      if (!this.isTable(lo, level)) return false;
      if (!this.subtreeEmpty(this.tablePa(lo, u[base + 2 * i + 1] as number), level - 1)) return false;
    }
    return true;
  }

  private freeSubtree(table: number, level: number, gather: IotlbGather): void {
    if (level > 0) {
      const u = this.u32;
      const n = this.entries[level] as number;
      const base = table >>> 2;
      for (let i = 0; i < n; i++) {
        const lo = u[base + 2 * i] as number;
        if (this.present(lo) && this.isTable(lo, level)) {
          this.freeSubtree(this.tablePa(lo, u[base + 2 * i + 1] as number), level - 1, gather);
        }
      }
    }
    gather.addTable(level, table, this.tableOrder[level] as number);
  }

  // ----------------------------------------------------------------- unmap

  /**
   * unmap_range: remove leaves from iova until len is covered or a hole is met.
   * Returns bytes unmapped (may exceed len when the range ends inside a leaf;
   * 0 when it starts inside a large leaf). Fully covered tables go on the
   * gather free list. The caller syncs.
   */
  unmapNoSync(iova: number, len: number, gather: IotlbGather): number {
    if (!(len > 0) || iova < 0) return 0;
    const last = iova + len - 1;
    if (last >= this.vaLimit) return 0;
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

  private freeTable(pa: number, order: number): void {
    this.mem.freePages(pa, order, KIND_TABLE);
    this.tablePages -= 2 ** order;
  }

  /** __unmap_range for one table; returns 0 or -EINVAL (stop). */
  private unmapLevel(table: number, level: number, va: number, last: number, gather: IotlbGather): number {
    const u = this.u32;
    const item = this.itemSize[level] as number;
    const base = table >>> 2;
    let i = this.index(va, level);
    const end = this.index(last, level);
    let first = true;
    let entryVa = Math.floor(va / item) * item;
    while (i <= end) {
      const w = base + 2 * i;
      const lo = u[w] as number;
      if (!this.present(lo)) return -EINVAL;
      const hi = u[w + 1] as number;
      if (this.isTable(lo, level)) {
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
      } else {
        const runLg2 = this.leafRunLg2(lo, hi, level);
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
            if (!this.present(l2) || this.isTable(l2, level) || this.leafRunLg2(l2, u[wl + 1] as number, level) !== 0) break;
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
        if (first && va % (item * rep) !== 0) return -EINVAL; // starts inside a large leaf
        const s = i - (i % rep);
        u.fill(0, base + 2 * s, base + 2 * (s + rep));
        this.flush((base + 2 * s) * 4, rep * 8);
        gather.addLeaf(level, (this.itemLg2[level] as number) + runLg2);
        this.unmapped += rep * item;
        i = s + rep;
        entryVa = Math.floor(entryVa / (item * rep)) * (item * rep) + item * rep;
      }
      first = false;
    }
    return 0;
  }

  // ------------------------------------------------------------ lookups

  /** iova_to_phys: OA + offset, or 0 when not mapped. */
  iovaToPhys(iova: number): number {
    if (!(iova >= 0) || iova >= this.vaLimit) return 0;
    const u = this.u32;
    let table = this.root;
    for (let level = this.topLevel; level >= 0; level--) {
      const w = (table >>> 2) + 2 * this.index(iova, level);
      const lo = u[w] as number;
      if (!this.present(lo)) return 0;
      const hi = u[w + 1] as number;
      if (this.isTable(lo, level)) {
        table = this.tablePa(lo, hi);
        continue;
      }
      return this.leafPhys(lo, hi, level, iova);
    }
    return 0;
  }

  private leafPhys(lo: number, hi: number, level: number, iova: number): number {
    const item = this.itemSize[level] as number;
    if (this.kind === K_AMDV1 || this.kind === K_MOCK) {
      if (((lo >>> 9) & 7) === 7) {
        const sz = item * 2 ** this.leafRunLg2(lo, hi, level);
        return this.leafOa(lo, hi, level) + modPow2(iova, sz);
      }
    }
    const a = ((hi & this.addrHiMask) * TWO32 + ((lo & 0xfffff000) >>> 0)) / this.addrScale;
    return a + modPow2(iova, item);
  }

  /** Find the leaf for iova: returns the word index of its entry and sets lastLevel, or -1. */
  lastLevel = 0;
  findLeaf(iova: number): number {
    if (!(iova >= 0) || iova >= this.vaLimit) return -1;
    const u = this.u32;
    let table = this.root;
    for (let level = this.topLevel; level >= 0; level--) {
      const w = (table >>> 2) + 2 * this.index(iova, level);
      const lo = u[w] as number;
      if (!this.present(lo)) return -1;
      if (this.isTable(lo, level)) {
        table = this.tablePa(lo, u[w + 1] as number);
        continue;
      }
      this.lastLevel = level;
      return w;
    }
    return -1;
  }

  /** IOMMU_READ/WRITE (and CACHE/NOEXEC where the format encodes them) of a leaf entry. */
  leafProt(lo: number, hi: number): number {
    let p = 0;
    switch (this.kind) {
      case K_VTDSS:
        if (lo & 1) p |= IOMMU_READ;
        if (lo & 2) p |= IOMMU_WRITE;
        break;
      case K_X86:
        p = IOMMU_READ;
        if (lo & 2) p |= IOMMU_WRITE;
        if (hi & 0x80000000) p |= IOMMU_NOEXEC;
        break;
      case K_AMDV1:
      case K_MOCK:
        if (hi & 0x20000000) p |= IOMMU_READ;
        if (hi & 0x40000000) p |= IOMMU_WRITE;
        break;
      case K_ARM_S1:
        p = IOMMU_READ;
        if (!(lo & 0x80) || hi & (1 << 19)) p |= IOMMU_WRITE; // writable, or writable-clean (DBM)
        if (lo & (1 << 2)) p |= IOMMU_CACHE;
        if (hi & (1 << 22)) p |= IOMMU_NOEXEC;
        break;
      default:
        if (lo & 0x40) p |= IOMMU_READ;
        if (lo & 0x80 || hi & (1 << 19)) p |= IOMMU_WRITE;
        if (((lo >>> 2) & 0xf) === 0xf) p |= IOMMU_CACHE;
        if (hi & (1 << 22)) p |= IOMMU_NOEXEC;
        break;
    }
    return p;
  }

  /** The leaf covering iova: start IOVA, size, PA of the start, prot; null if none. */
  lookupLeaf(iova: number): { iova: number; size: number; pa: number; prot: number } | null {
    const w = this.findLeaf(iova);
    if (w < 0) return null;
    const level = this.lastLevel;
    const lo = this.u32[w] as number;
    const hi = this.u32[w + 1] as number;
    const item = this.itemSize[level] as number;
    const amd = this.kind === K_AMDV1 || this.kind === K_MOCK;
    const size = amd ? item * 2 ** this.leafRunLg2(lo, hi, level) : item;
    const start = iova - modPow2(iova, size);
    const pa = this.leafOa(lo, hi, level);
    return { iova: start, size, pa, prot: this.leafProt(lo, hi) };
  }

  // ---------------------------------------------------------------- dirty

  /**
   * read_and_clear_dirty: record every dirty leaf in [iova, iova+size) at its
   * full size, cleaning it unless flags has IOMMU_DIRTY_NO_CLEAR; the cleaned
   * ranges are added to `gather` (caller syncs). Returns 0 or -errno.
   */
  readAndClearDirty(
    iova: number,
    size: number,
    flags: number,
    rec: DirtyRecorder | null,
    gather: IotlbGather,
  ): number {
    if (!(size > 0)) return -EINVAL;
    const last = iova + size - 1;
    if (last >= this.vaLimit) return -ERANGE;
    this.dirtyLevel(this.root, this.topLevel, iova, last, (flags & IOMMU_DIRTY_NO_CLEAR) === 0, rec, gather);
    return 0;
  }

  private dirtyLevel(
    table: number,
    level: number,
    va: number,
    last: number,
    clear: boolean,
    rec: DirtyRecorder | null,
    gather: IotlbGather,
  ): void {
    const u = this.u32;
    const item = this.itemSize[level] as number;
    const base = table >>> 2;
    let i = this.index(va, level);
    const end = this.index(last, level);
    let entryVa = Math.floor(va / item) * item;
    for (; i <= end; i++, entryVa += item) {
      const w = base + 2 * i;
      const lo = u[w] as number;
      if (lo === 0 || !this.present(lo)) continue;
      const hi = u[w + 1] as number;
      if (this.isTable(lo, level)) {
        const cva = entryVa > va ? entryVa : va;
        const el = entryVa + item - 1;
        this.dirtyLevel(this.tablePa(lo, hi), level - 1, cva, el < last ? el : last, clear, rec, gather);
        continue;
      }
      const runLg2 = this.leafRunLg2(lo, hi, level);
      if (runLg2 === 0) {
        if (!this.entryDirty(lo, hi)) continue;
        if (rec !== null) rec.record(entryVa, item);
        if (clear) {
          this.cleanEntry(w);
          this.flush(w * 4, 8);
          gather.addRange(entryVa, item);
          gather.addLeaf(level, this.itemLg2[level] as number);
        }
        continue;
      }
      // Replicated (AMD) or contiguous (Arm) run: dirty if any member is; clean all.
      const rep = 2 ** runLg2;
      const s = i - (i % rep);
      const runVa = entryVa - (i - s) * item;
      let dirty = false;
      for (let r = 0; r < rep; r++) {
        if (this.entryDirty(u[base + 2 * (s + r)] as number, u[base + 2 * (s + r) + 1] as number)) dirty = true;
      }
      if (dirty) {
        if (rec !== null) rec.record(runVa, rep * item);
        if (clear) {
          for (let r = 0; r < rep; r++) this.cleanEntry(base + 2 * (s + r));
          this.flush((base + 2 * s) * 4, rep * 8);
          gather.addRange(runVa, rep * item);
          gather.addLeaf(level, (this.itemLg2[level] as number) + runLg2);
        }
      }
      const skip = s + rep - 1 - i;
      i += skip;
      entryVa += skip * item;
    }
  }

  /** The selftest's set_dirty hook (generic_pt set_dirty): mark the leaf at iova dirty; -ENOENT if none. */
  setDirty(iova: number): number {
    if (!(iova >= 0) || iova >= this.vaLimit) return -ERANGE;
    const w = this.findLeaf(iova);
    if (w < 0) return -ENOENT;
    this.dirtyEntry(w);
    this.flush(w * 4, 8);
    return 0;
  }

  // ------------------------------------------------------------ wide IOVAs

  /** Limit of plain-number IOVAs: 2^vaBits (the lower half when sign-extended), at most 2^53. */
  private numberVaLimit(): number {
    return Math.min(2 ** (this.g.vaBits - (this.signExtend ? 1 : 0)), 2 ** 53);
  }

  /**
   * Is the current window inside the VA space? Sign-extended x86 tables accept
   * the canonical upper half (bits 63..vaBits-1 all ones).
   */
  private windowInVa(): boolean {
    const hi = this.winHi;
    const vb = this.g.vaBits;
    if (this.signExtend) {
      const topBits = vb - 1 - 48; // VA bit vaBits-1 is bit topBits of hi
      if (topBits < 0) return hi === 0xffff; // 4-level: only the all-ones window (lo checked by caller)
      const mask = 0xffff - (2 ** topBits - 1);
      return (hi & mask) === 0 || (hi & mask) === mask;
    }
    return vb > 48 && hi < 2 ** (vb - 48);
  }

  /** Run `fn(lo, len)` per 2^48 window of [iova, iova+len); stops when fn returns < len or < 0. */
  private wide(iova: bigint, len: number, fn: (lo: number, len: number) => number, isMap: boolean): number {
    const M48 = 2n ** 48n;
    let done = 0;
    while (done < len) {
      const cur = iova + BigInt(done);
      const hi = Number(cur >> 48n);
      const lo = Number(cur % M48);
      const chunk = Math.min(len - done, 2 ** 48 - lo);
      if (hi > 0xffff) return isMap ? -ERANGE : done;
      this.winHi = hi;
      // Inside a window IOVAs are the low 48 bits; windowInVa() checks the rest.
      this.vaLimit = 2 ** 48;
      let r: number;
      try {
        if (hi !== 0 && !isMap && !this.windowInVa()) r = isMap ? -ERANGE : 0;
        else if (hi !== 0 && this.signExtend && this.g.vaBits === 48 && lo < 2 ** 47) r = isMap ? -ERANGE : 0;
        else r = fn(lo, chunk);
      } finally {
        this.winHi = 0;
        this.vaLimit = this.numberVaLimit();
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
   * 2^48 boundaries, so no leaf spans two windows. Returns 0/-errno; `mapped` as map().
   */
  mapWide(iova: bigint, pa: number, len: number, prot: number): number {
    if (iova < 0n || iova + BigInt(len) > 2n ** 64n) return -ERANGE;
    if (iova + BigInt(len) <= 2n ** 53n && !(this.signExtend && iova >= 2n ** 63n)) return this.map(Number(iova), pa, len, prot);
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

  /** unmapNoSync with a 64-bit IOVA; windows above 2^48 mark the gather wide (domain-selective flush). */
  unmapWideNoSync(iova: bigint, len: number, gather: IotlbGather): number {
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

  /** read_and_clear_dirty with a 64-bit IOVA; the recorder gets bigint IOVAs. */
  readAndClearDirtyWide(
    iova: bigint,
    size: number,
    flags: number,
    rec: { record(iova: bigint, length: number): void } | null,
    gather: IotlbGather,
  ): number {
    let rc = 0;
    this.wide(
      iova,
      size,
      (lo, n) => {
        const base = BigInt(this.winHi) << 48n;
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
    const n = this.entries[level] as number;
    const base = table >>> 2;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const lo = u[base + 2 * i] as number;
      if (!this.present(lo)) continue;
      const hi = u[base + 2 * i + 1] as number;
      if (this.isTable(lo, level)) c += this.countLevel(this.tablePa(lo, hi), level - 1);
      else {
        c++;
        i += 2 ** this.leafRunLg2(lo, hi, level) - 1;
      }
    }
    return c;
  }

  /** Free every table page (domain free). The caller must have detached/flushed devices. */
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

  /** Smallest supported page size in bytes (1 << __ffs(pgsize_bitmap)). */
  get minPageSize(): number {
    return this.minPg;
  }
}

export { ctz };
