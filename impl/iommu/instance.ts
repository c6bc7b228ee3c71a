/**
 * A simulated IOMMU instance: paging domains in hardware formats, a device
 * table (stream id [+ PASID] -> domain), DMA translated through the walker and
 * cached in an IOTLB + walk cache that only forget entries on the vendor's
 * invalidation commands:
 *   vtd    — IOTLB page-selective invalidation (PSI) with address mask AM and
 *            invalidation hint IH (IH=1: leaves only), or domain-selective;
 *   amd    — INVALIDATE_IOMMU_PAGES with S (size in the address) and PDE;
 *   smmuv3 — CMD_TLBI_NH_VA / S2_IPA (leaf flag, optional range NUM/SCALE/TG),
 *            CMD_TLBI_NH_ASID, CMD_TLBI_S12_VMALL;
 *   mock   — the selftest mock: no IOTLB (mock_iotlb_sync only frees pages).
 * The driver side (Domain.sync) turns a gather into commands the way Linux does.
 */
import { EINVAL, ENOMEM, EOPNOTSUPP } from '../lib/errno.ts';
import { PhysMemory } from '../lib/physmem.ts';
import { Iotlb, WalkCache } from './iotlb.ts';
import {
  ACC_READ,
  ACC_WRITE,
  FAULT_BUS,
  FAULT_NO_DOMAIN,
  FAULT_TRANSLATION,
  walk,
  walkTableFrom,
  WalkResult,
  type WalkTable,
} from './walker.ts';
import { K_ARM_S1, K_ARM_S2, K_MOCK, makeGeometry, type FormatConfig, type PtGeometry } from '../pagetable/format.ts';
import { IotlbGather } from '../pagetable/gather.ts';
import { createPageTable } from '../pagetable/index.ts';
import type { IoPageTable, DirtyRecorder } from '../pagetable/table.ts';
import { MockSparseTable, MOCK_APERTURE_LAST, MOCK_APERTURE_START } from '../pagetable/mock612.ts';
import { flsLg2, modPow2, POW2 } from '../pagetable/pgsize.ts';

export type Vendor = 'vtd' | 'amd' | 'smmuv3' | 'mock';

/**
 * makeGeometry's answer per config, computed once: a session allocates the
 * same few domain configs over and over. Each domain gets its own copy of the
 * parts a page table changes as it lives (topLevel and vaBits when the top
 * grows, opts.coherent on enforce_cache_coherency); the per-level arrays are
 * shared. (Keyed by content: the drivers build a new config object per
 * domain, with its own dirty/coherent bits.)
 */
const geometries = new Map<string, PtGeometry | string>();
const GEOMETRIES_MAX = 256;

function geometryFor(cfg: FormatConfig): PtGeometry | string {
  const key = JSON.stringify(cfg);
  let g = geometries.get(key);
  if (g === undefined) {
    g = makeGeometry(cfg);
    if (geometries.size >= GEOMETRIES_MAX) geometries.clear();
    geometries.set(key, g);
  }
  if (typeof g === 'string') return g;
  // A table changes its own opts, topLevel and vaBits (table.ts); the per-level arrays are built once (format.ts) and only read.
  return { ...g, opts: { ...g.opts } };
}

/**
 * IOTLB and walk-cache arrays (about 200 KiB per unit) are reused across the
 * instances built on one memory: a memory `reset` means every machine built on
 * it is gone (PhysMemory.reset's contract), so its caches are free again. A
 * conformance session resets for every case, and allocating (and collecting)
 * fresh arrays each time was a visible share of its cost.
 */
interface CachePool {
  generation: number;
  /** Caches instances of the current generation hold. */
  readonly inUse: (Iotlb | WalkCache)[];
  /** Caches of earlier generations, free to hand out again. */
  readonly free: (Iotlb | WalkCache)[];
}

const cachePools = new WeakMap<PhysMemory, CachePool>();

/** A cleared free cache of `mem`'s that `fits`, or `make()`; either way now in use. */
function takeCache<T extends Iotlb | WalkCache>(mem: PhysMemory, fits: (c: Iotlb | WalkCache) => c is T, make: () => T): T {
  let pool = cachePools.get(mem);
  if (pool === undefined) {
    pool = { generation: mem.generation, inUse: [], free: [] };
    cachePools.set(mem, pool);
  }
  if (pool.generation !== mem.generation) {
    pool.generation = mem.generation;
    pool.free.push(...pool.inUse);
    pool.inUse.length = 0;
  }
  const i = pool.free.findIndex(fits);
  let cache: T;
  if (i < 0) {
    cache = make();
  } else {
    cache = pool.free[i] as T;
    pool.free.splice(i, 1);
    cache.clear();
  }
  pool.inUse.push(cache);
  return cache;
}

function takeIotlb(mem: PhysMemory, entries: number): Iotlb {
  const size = slotsFor(entries);
  return takeCache(mem, (c): c is Iotlb => c instanceof Iotlb && c.size === size && c.keyShift === 12, () => new Iotlb(entries, 12));
}

function takeWalkCache(mem: PhysMemory, entries: number): WalkCache {
  const size = slotsFor(entries);
  return takeCache(mem, (c): c is WalkCache => c instanceof WalkCache && c.size === size, () => new WalkCache(entries));
}

/** The slot count Iotlb and WalkCache round `entries` up to. */
function slotsFor(entries: number): number {
  let n = 1;
  while (n < entries) n *= 2;
  return n;
}

export interface IommuInstanceOptions {
  mem: PhysMemory;
  vendor: Vendor;
  /** IOTLB entries (default 4096; 0 disables caching). */
  iotlbEntries?: number;
  walkCacheEntries?: number;
  /** SMMUv3 IDR3.RIL range invalidation (default true). */
  rangeInv?: boolean;
  /** VT-d CAP.MAMV: largest PSI address mask (default 18). */
  mamv?: number;
  /** Record every invalidation command in `cmdLog` (tests). */
  logCommands?: boolean;
}

/** An invalidation command as issued (kept only with logCommands). */
export type InvCmd =
  | { op: 'vtd-psi'; did: number; addr: number; am: number; ih: number }
  | { op: 'vtd-dsi'; did: number }
  | { op: 'amd-inv-pages'; domid: number; addr: number; s: number; pde: number; all: boolean }
  | { op: 'smmu-tlbi-va'; stage: 1 | 2; tag: number; addr: number; leaf: boolean; num: number; scale: number; tg: number; ttl: number }
  | { op: 'smmu-tlbi-tag'; stage: 1 | 2; tag: number };

export interface Fault {
  sid: number;
  pasid: number;
  iova: number;
  reason: number;
  write: boolean;
}

/** Domain configuration: a page-table format, or the 6.12 sparse mock. */
export type DomainConfig = FormatConfig | { format: 'mock-sparse'; hugeIova?: boolean; dirty?: boolean };

/**
 * A paging domain (struct iommu_domain + its io page table). Operations follow
 * the iommu core: map = iommu_map (undoes partial progress on failure), unmap =
 * iommu_unmap (gather + iotlb_sync), iovaToPhys, readAndClearDirty (+ sync).
 */
export class Domain {
  readonly inst: IommuInstance;
  /** DID / domid / ASID / VMID used to tag cache entries. */
  readonly tag: number;
  readonly pt: IoPageTable | null;
  readonly mock: MockSparseTable | null;
  readonly dirtyCapable: boolean;
  /** Aperture (geometry.aperture_start / _end); apertureLast is clamped below 2^53, apertureLastBig is exact. */
  apertureStart: number;
  apertureLast: number;
  apertureLastBig: bigint;
  /** Bytes mapped by the last map() before it failed or completed. */
  mapped = 0;
  private readonly gather = new IotlbGather();
  destroyed = false;
  /** Set on first attach; until then no cache can hold this domain's tag. */
  everAttached = false;

  constructor(inst: IommuInstance, tag: number, pt: IoPageTable | null, mock: MockSparseTable | null, dirtyCapable: boolean) {
    this.inst = inst;
    this.tag = tag;
    this.pt = pt;
    this.mock = mock;
    this.dirtyCapable = dirtyCapable;
    if (pt !== null) {
      // The table's geometry.aperture (pt_iommu_init_domain / the driver); the 7.3 selftest
      // narrows the default mock domain to MOCK_APERTURE_START..LAST (mock_domain_alloc_pgtable).
      this.apertureStart = Number(pt.g.apertureStart);
      this.apertureLastBig = pt.g.apertureLast;
      this.apertureLast = Number(pt.g.apertureLast < 2n ** 53n ? pt.g.apertureLast : 2n ** 53n - 1n);
      if (pt.g.kind === K_MOCK && !pt.g.mockHuge) {
        this.apertureStart = MOCK_APERTURE_START;
        this.apertureLast = MOCK_APERTURE_LAST;
        this.apertureLastBig = BigInt(MOCK_APERTURE_LAST);
      }
      pt.onFlush = (g) => inst.flushGather(this, g);
    } else {
      this.apertureStart = MOCK_APERTURE_START;
      this.apertureLast = MOCK_APERTURE_LAST;
      this.apertureLastBig = BigInt(MOCK_APERTURE_LAST);
    }
  }

  /** pgsize_bitmap as a list of byte sizes, ascending. */
  get pgsizes(): number[] {
    const l = this.pt !== null ? this.pt.g.pgsizes : (this.mock as MockSparseTable).pgsizeLg2;
    return l.map((x) => 2 ** x);
  }

  /**
   * iommu_map: 0 or -errno; on failure the partial mapping is undone (`mapped`
   * says how far it got), as iommu_map_nosync does. The alignment checks are
   * the table's: the iommu core's for io-pgtable drivers, none for generic_pt.
   */
  map(iova: number, pa: number, len: number, prot: number): number {
    if (this.mock !== null) {
      const rc = this.mock.map(iova, pa, len);
      this.mapped = this.mock.mapped;
      return rc;
    }
    const pt = this.pt as IoPageTable;
    const rc = pt.map(iova, pa, len, prot);
    this.mapped = pt.mapped;
    if (rc !== 0 && pt.mapped > 0) this.unmap(iova, pt.mapped);
    return rc;
  }

  /** map_range without the undo (driver-level contract; `mapped` holds the progress). */
  mapNoUndo(iova: number, pa: number, len: number, prot: number): number {
    if (this.mock !== null) return this.map(iova, pa, len, prot);
    const pt = this.pt as IoPageTable;
    const rc = pt.map(iova, pa, len, prot);
    this.mapped = pt.mapped;
    return rc;
  }

  /** iommu_unmap: bytes unmapped (the table's driver decides misaligned and partial cases). */
  unmap(iova: number, len: number): number {
    if (this.mock !== null) return this.mock.unmap(iova, len);
    const pt = this.pt as IoPageTable;
    const g = this.gather;
    g.reset();
    const n = pt.unmapNoSync(iova, len, g);
    pt.sync(g);
    return n;
  }

  iovaToPhys(iova: number): number {
    if (this.mock !== null) return this.mock.iovaToPhys(iova);
    return (this.pt as IoPageTable).iovaToPhys(iova);
  }

  /** set_dirty_tracking: -EOPNOTSUPP unless the domain was allocated dirty-capable. */
  setDirtyTracking(enable: boolean): number {
    if (enable && !this.dirtyCapable) return -EOPNOTSUPP;
    if (this.mock !== null) return this.mock.setDirtyTracking(enable);
    (this.pt as IoPageTable).dirtyTracking = enable;
    this.inst.refreshContexts(this);
    return 0;
  }

  /** The leaf covering iova ({iova, size, pa, prot}) or null; the 6.12 mock reports its 2 KiB entry. */
  lookupLeaf(iova: number): { iova: number; size: number; pa: number; prot: number } | null {
    if (this.pt !== null) return this.pt.lookupLeaf(iova);
    const pa = (this.mock as MockSparseTable).pfns.has(Math.floor(iova / 2048)) ? (this.mock as MockSparseTable).iovaToPhys(iova - (iova % 2048)) : -1;
    return pa < 0 ? null : { iova: iova - (iova % 2048), size: 2048, pa, prot: 3 };
  }

  /** enforce_cache_coherency at the page-table level: later maps carry SNP (VT-d) / FC (AMD). */
  enforceCacheCoherency(): boolean {
    return this.pt !== null ? this.pt.enforceCacheCoherency() : false;
  }

  /** Table pages this domain owns (4 KiB units); 0 for the sparse mock. */
  get tablePages(): number {
    return this.pt !== null ? this.pt.tablePages : 0;
  }

  /** Bytes currently mapped. */
  get mappedBytes(): number {
    return this.pt !== null ? this.pt.mappedBytes : (this.mock as MockSparseTable).count * 2048;
  }

  /** fail_nth hook for table-page allocations (returns true to fail one with -ENOMEM). */
  set allocFail(fn: (() => boolean) | null) {
    if (this.pt !== null) this.pt.allocFail = fn;
  }

  get dirtyTracking(): boolean {
    return this.mock !== null ? this.mock.dirtyTracking : (this.pt as IoPageTable).dirtyTracking;
  }

  /** read_and_clear_dirty followed by iotlb_sync (iommufd syncs after each pass). */
  readAndClearDirty(iova: number, size: number, flags: number, rec: DirtyRecorder | null): number {
    if (this.mock !== null) return this.mock.readAndClearDirty(iova, size, flags, rec);
    const pt = this.pt as IoPageTable;
    const g = this.gather;
    g.reset();
    const rc = pt.readAndClearDirty(iova, size, flags, rec, g);
    pt.sync(g);
    return rc;
  }

  /** Test hook (IOMMU_TEST_OP_DIRTY / generic_pt set_dirty): mark the leaf at iova dirty. */
  setDirty(iova: number): number {
    if (this.mock !== null) return this.mock.setDirty(iova) ? 0 : -EINVAL;
    return (this.pt as IoPageTable).setDirty(iova);
  }

  // Wide (64-bit) IOVAs: bigint only at this boundary; see IoPageTable.mapWide.

  mapWide(iova: bigint, pa: number, len: number, prot: number): number {
    if (iova + BigInt(len) <= 2n ** 53n) return this.map(Number(iova), pa, len, prot);
    const pt = this.pt;
    if (pt === null) return -EINVAL;
    if (pt.g.driver !== 'generic_pt') {
      // The iommu core's alignment check (iova is checked here: the windows see only its low bits).
      const min = pt.minPageSize;
      if (iova % BigInt(min) !== 0n || modPow2(pa, min) + modPow2(len, min) !== 0) return -EINVAL;
    }
    const rc = pt.mapWide(iova, pa, len, prot);
    this.mapped = pt.mapped;
    if (rc !== 0 && pt.mapped > 0) this.unmapWide(iova, pt.mapped);
    return rc;
  }

  unmapWide(iova: bigint, len: number): number {
    if (iova + BigInt(len) <= 2n ** 53n) return this.unmap(Number(iova), len);
    const pt = this.pt;
    if (pt === null) return 0;
    const g = this.gather;
    g.reset();
    const n = pt.unmapWideNoSync(iova, len, g);
    pt.sync(g);
    return n;
  }

  iovaToPhysWide(iova: bigint): number {
    if (iova < 2n ** 53n) return this.iovaToPhys(Number(iova));
    return this.pt === null ? 0 : this.pt.iovaToPhysWide(iova);
  }

  setDirtyWide(iova: bigint): number {
    if (iova < 2n ** 53n) return this.setDirty(Number(iova));
    return this.pt === null ? -EINVAL : this.pt.setDirtyWide(iova);
  }

  readAndClearDirtyWide(iova: bigint, size: number, flags: number, rec: { record(iova: bigint, length: number): void } | null): number {
    const pt = this.pt;
    if (pt === null) return -EINVAL;
    const g = this.gather;
    g.reset();
    const rc = pt.readAndClearDirtyWide(iova, size, flags, rec, g);
    pt.sync(g);
    return rc;
  }

  /** Free every table page; flushes this domain's tag from the caches first. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.inst.forgetDomain(this);
    if (this.pt !== null) this.pt.destroy();
    else (this.mock as MockSparseTable).pfns.clear();
  }
}

interface DeviceContext {
  domain: Domain;
  /** Cache tag: the domain's tag, or the nested (stage-1) tag for a two-stage context. */
  tag: number;
  s1: WalkTable | null;
  s2: WalkTable | null;
}

/** A two-stage translation context: a guest stage-1 table walked through a stage-2 domain. */
interface NestedContext {
  s1: WalkTable;
  s2: Domain;
}

export class IommuInstance {
  readonly mem: PhysMemory;
  readonly vendor: Vendor;
  readonly iotlb: Iotlb | null;
  readonly walkCache: WalkCache | null;
  readonly rangeInv: boolean;
  readonly mamv: number;
  readonly cmdLog: InvCmd[] = [];
  logCommands: boolean;
  readonly faults: Fault[] = [];
  /** Cap on recorded faults so a runaway DMA loop cannot grow the heap. */
  maxFaults = 1024;
  private readonly devices = new Map<number, DeviceContext>();
  private readonly domains = new Set<Domain>();
  private nextTag = 1;
  private readonly nested = new Map<number, NestedContext>();
  private lastKey = -1;
  private lastCtx: DeviceContext | null = null;
  private readonly res = new WalkResult();
  /** Counters of commands issued. */
  invalidations = 0;

  constructor(opts: IommuInstanceOptions) {
    this.mem = opts.mem;
    this.vendor = opts.vendor;
    const n = opts.iotlbEntries ?? 4096;
    const cacheOn = opts.vendor !== 'mock' && n > 0;
    this.iotlb = cacheOn ? takeIotlb(opts.mem, n) : null;
    this.walkCache = cacheOn ? takeWalkCache(opts.mem, opts.walkCacheEntries ?? 1024) : null;
    this.rangeInv = opts.rangeInv ?? true;
    this.mamv = opts.mamv ?? 18;
    this.logCommands = opts.logCommands ?? false;
  }

  /** domain_alloc_paging: returns the domain or -errno (-EINVAL for a bad config, -ENOMEM). */
  createDomain(cfg: DomainConfig): Domain | number {
    const tag = this.nextTag++;
    if (cfg.format === 'mock-sparse') {
      const d = new Domain(this, tag, null, new MockSparseTable(cfg.hugeIova ?? false), cfg.dirty ?? false);
      this.domains.add(d);
      return d;
    }
    const g = geometryFor(cfg);
    if (typeof g === 'string') return -EINVAL;
    const pt = createPageTable(this.mem, g);
    if (typeof pt === 'number') return -ENOMEM;
    const d = new Domain(this, tag, pt, null, g.dirty);
    this.domains.add(d);
    return d;
  }

  /** Attach a device (stream id / requester id, optional PASID) to a domain; null detaches. */
  attach(sid: number, domain: Domain | null, pasid = 0): number {
    const key = sid * 1048576 + pasid;
    this.lastKey = -1;
    if (domain === null) {
      this.devices.delete(key);
      return 0;
    }
    this.devices.set(key, { domain, tag: domain.tag, s1: this.contextFor(domain), s2: null });
    domain.everAttached = true;
    this.lastKey = -1;
    return 0;
  }

  /**
   * Nested (two-stage) attach: `s1` describes a guest table whose pointers and
   * outputs are IPAs translated through the stage-2 domain `s2domain`.
   * Cache entries are tagged with the stage-2 domain's tag.
   */
  attachNested(sid: number, s1: WalkTable, s2domain: Domain, pasid = 0, tag = -1): number {
    if (s2domain.pt === null) return -EINVAL;
    const t = tag > 0 ? tag : this.nextTag++;
    this.nested.set(t, { s1, s2: s2domain });
    this.devices.set(sid * 1048576 + pasid, { domain: s2domain, tag: t, s1, s2: this.contextFor(s2domain) });
    s2domain.everAttached = true;
    this.lastKey = -1;
    return t;
  }

  /** A fresh cache tag for a nested (stage-1) context, e.g. one per nested HWPT. */
  allocTag(): number {
    return this.nextTag++;
  }

  /**
   * Guest stage-1 invalidation (what IOMMU_HWPT_INVALIDATE becomes): drop
   * combined translations of `tag` overlapping [start, last] (two-stage
   * contexts use no walk cache). Stale entries outside the range stay.
   */
  invalidateStage1(tag: number, start: number, last: number): void {
    this.invalidations++;
    this.iotlb?.invalidateRange(tag, start, last);
  }

  /** Stage-2 changes invalidate every nested tag built on that stage 2 (the driver's parent flush). */
  private flushNestedOf(d: Domain): void {
    for (const [t, n] of this.nested) if (n.s2 === d) this.iotlb?.invalidateTag(t);
  }

  private contextFor(d: Domain): WalkTable | null {
    if (d.pt === null) return null;
    const pt = d.pt;
    // Arm: the SMMU's HTTU updates DBM leaves whenever the CD enables it (stage-1 dirty domains).
    const hd = pt.dirtyTracking || (pt.g.dirty && pt.g.kind === K_ARM_S1);
    return walkTableFrom(pt.g, pt.rootHw, pt.topLevel, hd);
  }

  /** Context/DTE/CD rewrite after a domain's root, level or dirty enable changed. */
  refreshContexts(d: Domain): void {
    for (const ctx of this.devices.values()) {
      if (ctx.domain !== d) continue;
      if (ctx.s2 !== null) ctx.s2 = this.contextFor(d);
      else ctx.s1 = this.contextFor(d);
    }
  }

  forgetDomain(d: Domain): void {
    for (const [k, ctx] of this.devices) if (ctx.domain === d) this.devices.delete(k);
    this.flushNestedOf(d);
    for (const [t, n] of this.nested) if (n.s2 === d) this.nested.delete(t);
    this.lastKey = -1;
    if (this.iotlb !== null) this.iotlb.invalidateTag(d.tag);
    if (this.walkCache !== null) this.walkCache.invalidateTag(d.tag);
    this.domains.delete(d);
  }

  // ------------------------------------------------------------------ DMA

  /** Last translation's result (reused object). */
  get last(): WalkResult {
    return this.res;
  }

  /**
   * Translate a device access. Returns the PA (>= 0) or a negative FAULT_* code;
   * faults are recorded in `faults`.
   */
  translate(sid: number, iova: number, access: number, pasid = 0): number {
    const key = sid * 1048576 + pasid;
    let ctx: DeviceContext | null | undefined = key === this.lastKey ? this.lastCtx : this.devices.get(key);
    if (ctx === undefined || ctx === null) return this.fault(sid, pasid, iova, FAULT_NO_DOMAIN, access);
    this.lastKey = key;
    this.lastCtx = ctx;
    const d = ctx.domain;
    const tlb = this.iotlb;
    const tag = ctx.tag;
    if (tlb !== null) {
      const i = tlb.lookup(tag, iova);
      if (i >= 0) {
        const off = iova - (tlb.leafVa[i] as number);
        // A key page can hold a smaller leaf (2 KiB mock pages): the hit must cover iova.
        if (
          off < (POW2[tlb.leafLg2[i] as number] as number) &&
          ((tlb.perm[i] as number) & access) === access &&
          (!(access & ACC_WRITE) || tlb.dirty[i] === 1 || !this.needsDirtyWalk(ctx))
        ) {
          return (tlb.leafPa[i] as number) + off;
        }
      }
    }
    if (d.mock !== null) {
      // Mock devices have no IOTLB: look the table up directly (iommufd_access path).
      // (Checked first so a device miss is not counted as the WARN_ON of iova_to_phys.)
      if (!d.mock.pfns.has(Math.floor(iova / 2048))) return this.fault(sid, pasid, iova, 1, access);
      return d.mock.iovaToPhys(iova - (iova % 2048)) + (iova % 2048);
    }
    if (d.pt !== null && ctx.s2 === null) {
      // The DTE/context sees the current root and top level (change_top rewrites it).
      const s1 = ctx.s1 as WalkTable;
      if (s1.root !== d.pt.root + d.pt.g.tablePtrBias || s1.topLevel !== d.pt.topLevel) {
        ctx.s1 = this.contextFor(d);
        ctx = ctx as DeviceContext;
      }
    }
    const res = this.res;
    res.l0Table = -1;
    const s1 = ctx.s2 !== null ? (ctx.s1 as WalkTable) : (ctx.s1 as WalkTable);
    let rc: number;
    const wc = this.walkCache;
    let wi = -1;
    if (wc !== null && ctx.s2 === null && s1.topLevel >= 1) wi = wc.lookup(tag, iova, s1.granLg2 + s1.bitsPerLevel);
    if (wi >= 0 && wc !== null) {
      rc = walk(this.mem, s1, iova, access, null, res, wc.table[wi] as number, 0, wc.perm[wi] as number);
    } else {
      rc = walk(this.mem, s1, iova, access, ctx.s2, res, -1, -1, 3);
    }
    if (rc !== 0) {
      // A walk that found no leaf may still keep the table entries it read: VT-d's
      // paging-structure caches and an SMMU's walk cache hold present non-leaf entries whatever
      // the leaf below held. A table a map or unmap frees without invalidating the walk caches
      // stays reachable through such an entry.
      if (rc === FAULT_TRANSLATION && tlb !== null && wc !== null && wi < 0 && res.l0Table >= 0 && ctx.s2 === null) wc.insert(tag, iova, s1.granLg2 + s1.bitsPerLevel, res.l0Table, res.upperPerm);
      return this.fault(sid, pasid, iova, rc, access);
    }
    if (tlb !== null) {
      tlb.insert(tag, iova, res.leafVa, res.leafLg2, res.leafPa, res.perm, res.dirty);
      if (wc !== null && wi < 0 && res.l0Table >= 0 && ctx.s2 === null) {
        wc.insert(tag, iova, s1.granLg2 + s1.bitsPerLevel, res.l0Table, res.upperPerm);
      }
    }
    return res.pa;
  }

  /** A write hit on an entry not known dirty must re-walk when HW dirty tracking is on. */
  private needsDirtyWalk(ctx: DeviceContext): boolean {
    return (ctx.s2 !== null ? (ctx.s2 as WalkTable).hd : (ctx.s1 as WalkTable).hd) || false;
  }

  private fault(sid: number, pasid: number, iova: number, reason: number, access: number): number {
    if (this.faults.length < this.maxFaults) this.faults.push({ sid, pasid, iova, reason, write: (access & ACC_WRITE) !== 0 });
    return -reason;
  }

  /** Device reads `len` bytes at iova. Returns the bytes or a negative fault code. */
  dmaRead(sid: number, iova: number, len: number, pasid = 0): Uint8Array | number {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const pa = this.translate(sid, iova + done, ACC_READ, pasid);
      if (pa < 0) return pa;
      const chunk = Math.min(len - done, 2048 - ((iova + done) % 2048));
      if (!this.mem.inRam(pa, chunk)) return this.fault(sid, pasid, iova + done, FAULT_BUS, ACC_READ);
      out.set(this.mem.u8.subarray(pa, pa + chunk), done);
      done += chunk;
    }
    return out;
  }

  /** Device writes bytes at iova. Returns 0 or a negative fault code (earlier chunks may have landed). */
  dmaWrite(sid: number, iova: number, data: Uint8Array, pasid = 0): number {
    let done = 0;
    while (done < data.length) {
      const pa = this.translate(sid, iova + done, ACC_WRITE, pasid);
      if (pa < 0) return pa;
      const chunk = Math.min(data.length - done, 2048 - ((iova + done) % 2048));
      if (!this.mem.inRam(pa, chunk)) return this.fault(sid, pasid, iova + done, FAULT_BUS, ACC_WRITE);
      this.mem.u8.set(data.subarray(done, done + chunk), pa);
      done += chunk;
    }
    return 0;
  }

  // --------------------------------------------------------- invalidation

  /** Driver iotlb_sync: turn a gather into this vendor's commands (the caller frees tables after). */
  flushGather(d: Domain, g: IotlbGather): void {
    if (this.iotlb === null) return; // mock_iotlb_sync: nothing to invalidate
    // Like Linux's per-domain cache tags / dev_data lists: a domain that was never
    // attached has nothing cached, so no command is issued.
    if (d.everAttached === false) return;
    if (this.nested.size > 0) this.flushNestedOf(d);
    // Tables cleared (freed through the gather, or already freed by the caller): the walk caches go too.
    const tables = g.freelist.length > 0 || g.tableLevels !== 0;
    if (g.wide) {
      this.domainSelective(d);
      return;
    }
    if (g.empty) {
      if (tables) this.domainSelective(d);
      return;
    }
    const start = g.start;
    const last = g.end;
    switch (this.vendor) {
      case 'vtd':
        this.intelFlushRange(d.tag, start, last, tables ? 0 : 1);
        break;
      case 'amd':
        this.amdFlushRange(d.tag, start, last - start + 1);
        break;
      default:
        this.smmuFlushRange(d, start, last - start + 1, !tables, g.pgsizeLg2);
        break;
    }
  }

  private domainSelective(d: Domain): void {
    if (this.vendor === 'vtd') this.vtdDsi(d.tag);
    else if (this.vendor === 'amd') this.amdInvalidatePages(d.tag, 0, 1, 1, true);
    else this.smmuTlbiTag(d.pt !== null && d.pt.g.kind === K_ARM_S2 ? 2 : 1, d.tag);
  }

  /** calculate_psi_aligned_address + qi_flush_iotlb (drivers/iommu/intel/cache.c). */
  intelFlushRange(did: number, start: number, last: number, ih: number): void {
    const pfn = Math.floor(start / 4096);
    const pages = Math.floor(last / 4096) - pfn + 1;
    let aligned = 1;
    while (aligned < pages) aligned *= 2;
    let mask = Math.log2(aligned);
    if (pfn % aligned !== 0) {
      // Grow the mask until one naturally aligned block holds [pfn, end_pfn].
      const endPfn = pfn + pages - 1;
      mask = 0;
      while (Math.floor(pfn / 2 ** mask) !== Math.floor(endPfn / 2 ** mask)) mask++;
      if (mask > 52) mask = 64;
    }
    if (mask > this.mamv) {
      this.vtdDsi(did);
      return;
    }
    const addr = Math.floor(start / 2 ** (12 + mask)) * 2 ** (12 + mask);
    this.vtdPsi(did, addr, mask, ih);
  }

  /** VT-d IOTLB invalidate, page-selective: 2^am pages at addr; IH=1 keeps paging-structure caches. */
  vtdPsi(did: number, addr: number, am: number, ih: number): void {
    this.invalidations++;
    if (this.logCommands) this.cmdLog.push({ op: 'vtd-psi', did, addr, am, ih });
    const last = addr + 2 ** (12 + am) - 1;
    this.iotlb?.invalidateRange(did, addr, last);
    if (ih === 0) this.walkCache?.invalidateRange(did, addr, last);
  }

  vtdDsi(did: number): void {
    this.invalidations++;
    if (this.logCommands) this.cmdLog.push({ op: 'vtd-dsi', did });
    this.iotlb?.invalidateTag(did);
    this.walkCache?.invalidateTag(did);
  }

  /** build_inv_address (drivers/iommu/amd/iommu.c) + INVALIDATE_IOMMU_PAGES with PDE=1. */
  amdFlushRange(domid: number, address: number, size: number): void {
    const end = address + size - 1;
    if (Math.floor(address / 4096) === Math.floor(end / 4096)) {
      this.amdInvalidatePages(domid, Math.floor(address / 4096) * 4096, 0, 1, false);
      return;
    }
    // msb_diff = fls64(end ^ address) - 1: the highest bit where they differ.
    let d = 63;
    while (d > 0 && Math.floor(address / 2 ** d) === Math.floor(end / 2 ** d)) d--;
    if (d > 51) {
      this.amdInvalidatePages(domid, 0, 1, 1, true);
      return;
    }
    // address |= (1 << msb_diff) - 1; address &= PAGE_MASK; S = 1.
    const blk = 2 ** (d + 1);
    const base = Math.floor(address / blk) * blk;
    this.amdInvalidatePages(domid, base + (2 ** d - 4096), 1, 1, false);
  }

  /** INVALIDATE_IOMMU_PAGES: S=0 one 4K page; S=1 size from the run of 1s above bit 12. */
  amdInvalidatePages(domid: number, addr: number, s: number, pde: number, all: boolean): void {
    this.invalidations++;
    if (this.logCommands) this.cmdLog.push({ op: 'amd-inv-pages', domid, addr, s, pde, all });
    let start: number;
    let last: number;
    if (all) {
      start = 0;
      last = Number.MAX_SAFE_INTEGER;
    } else if (s === 0) {
      start = addr;
      last = addr + 4095;
    } else {
      let f = Math.floor(addr / 4096);
      let ones = 0;
      while (f % 2 === 1) {
        ones++;
        f = (f - 1) / 2;
      }
      const size = 2 ** (12 + ones + 1);
      start = Math.floor(addr / size) * size;
      last = start + size - 1;
    }
    this.iotlb?.invalidateRange(domid, start, last);
    if (pde) this.walkCache?.invalidateRange(domid, start, last);
  }

  /** __arm_smmu_tlb_inv_range: range commands with RIL, else one per leaf-size granule. */
  smmuFlushRange(d: Domain, iova: number, size: number, leaf: boolean, pgsizeLg2: number): void {
    const pt = d.pt as IoPageTable;
    const stage = pt.g.kind === K_ARM_S2 ? 2 : 1;
    const tg = pt.g.granLg2;
    const granuleLg2 = pgsizeLg2 > 0 ? pgsizeLg2 : tg;
    const end = iova + size;
    if (this.rangeInv) {
      let numPages = Math.floor(size / 2 ** tg);
      const ttl = leaf ? 4 - Math.floor((granuleLg2 - 3) / (tg - 3)) : 0;
      if (!leaf && numPages % 32 === 1 && numPages === 1) numPages++;
      let a = iova;
      while (a < end && numPages > 0) {
        const scale = Math.min(31, ctzNum(numPages));
        const num = Math.floor(numPages / 2 ** scale) % 32;
        const inv = num * 2 ** (scale + tg);
        this.smmuTlbiVa(stage, d.tag, a, leaf, num - 1, scale, (tg - 10) / 2, ttl);
        numPages -= num * 2 ** scale;
        a += inv;
      }
      return;
    }
    const step = 2 ** granuleLg2;
    for (let a = iova; a < end; a += step) this.smmuTlbiVa(stage, d.tag, a, leaf, -1, 0, 0, 0);
  }

  /**
   * CMD_TLBI_NH_VA / CMD_TLBI_S2_IPA. With num >= 0 (range): (num+1) * 2^scale
   * translation granules (tg: 1=4K, 2=16K, 3=64K) from addr; otherwise every
   * entry containing addr. leaf=true keeps walk-cache entries.
   */
  smmuTlbiVa(stage: 1 | 2, tag: number, addr: number, leaf: boolean, num: number, scale: number, tg: number, ttl: number): void {
    this.invalidations++;
    if (this.logCommands) this.cmdLog.push({ op: 'smmu-tlbi-va', stage, tag, addr, leaf, num, scale, tg, ttl });
    let last = addr;
    if (num >= 0) last = addr + (num + 1) * 2 ** scale * 2 ** (10 + 2 * tg) - 1;
    this.iotlb?.invalidateRange(tag, addr, last);
    if (!leaf) this.walkCache?.invalidateRange(tag, addr, last);
  }

  /** CMD_TLBI_NH_ASID (stage 1) / CMD_TLBI_S12_VMALL (stage 2). */
  smmuTlbiTag(stage: 1 | 2, tag: number): void {
    this.invalidations++;
    if (this.logCommands) this.cmdLog.push({ op: 'smmu-tlbi-tag', stage, tag });
    this.iotlb?.invalidateTag(tag);
    this.walkCache?.invalidateTag(tag);
  }

  // ---------------------------------------------------------- consistency

  /**
   * The kunit_iommu_iotlb.h invariant: every cached IOTLB entry equals what a
   * fresh walk of memory gives, and every walk-cache entry names the table the
   * memory names. Returns human-readable mismatches (empty when consistent).
   */
  checkCaches(): string[] {
    const bad: string[] = [];
    const tlb = this.iotlb;
    if (tlb === null) return bad;
    const byTag = new Map<number, Domain>();
    for (const d of this.domains) byTag.set(d.tag, d);
    const r = new WalkResult();
    tlb.forEach((i) => {
      const tag = tlb.tag[i] as number;
      const d = byTag.get(tag);
      const n = this.nested.get(tag);
      const va = (tlb.key[i] as number) * 2 ** tlb.keyShift;
      let rc: number;
      if (n !== undefined && n.s2.pt !== null) {
        const s2 = n.s2.pt;
        rc = walk(this.mem, n.s1, va, 0, walkTableFrom(s2.g, s2.rootHw, s2.topLevel, false), r, -1, -1, 3);
      } else if (d === undefined || d.pt === null) {
        bad.push(`iotlb entry for unknown tag ${tag}`);
        return;
      } else {
        const ctx = walkTableFrom(d.pt.g, d.pt.rootHw, d.pt.topLevel, false);
        rc = walk(this.mem, ctx, va, 0, null, r, -1, -1, 3);
      }
      if (rc !== 0) {
        bad.push(`stale iotlb entry tag ${tag} iova 0x${va.toString(16)}: memory has no translation`);
        return;
      }
      const cachedPa = (tlb.leafPa[i] as number) + (va - (tlb.leafVa[i] as number));
      if (cachedPa !== r.pa || (tlb.perm[i] as number) !== r.perm || (tlb.leafLg2[i] as number) !== r.leafLg2) {
        bad.push(`iotlb entry tag ${tag} iova 0x${va.toString(16)} differs from memory`);
      }
    });
    const wc = this.walkCache;
    if (wc !== null) {
      wc.forEach((i) => {
        const d = byTag.get(wc.tag[i] as number);
        if (d === undefined || d.pt === null) {
          bad.push(`walk-cache entry for unknown tag ${wc.tag[i]}`);
          return;
        }
        const va = (wc.key[i] as number) * 2 ** (wc.spanLg2[i] as number);
        const ctx = walkTableFrom(d.pt.g, d.pt.rootHw, d.pt.topLevel, false);
        r.l0Table = -1;
        walk(this.mem, ctx, va, 0, null, r, -1, -1, 3);
        if (r.l0Table !== (wc.table[i] as number)) {
          bad.push(`stale walk-cache entry tag ${d.tag} iova 0x${va.toString(16)}`);
        }
      });
    }
    return bad;
  }
}

function ctzNum(x: number): number {
  let n = 0;
  while (x % 2 === 0 && n < 64) {
    x /= 2;
    n++;
  }
  return n;
}

export { flsLg2 };
