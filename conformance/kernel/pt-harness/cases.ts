/**
 * Operation sequences for the differential test.
 *
 * Random sequences are fast-check model-based commands (fc.commands): each
 * command draws its parameters up front and resolves them against the model
 * (what has been mapped) when it runs, so every sequence stays inside what the
 * driver defines. The iommu API contract (include/linux/iommu.h, iommu_unmap:
 * "It cannot subdivide a mapping created by iommu_map()", and maps go to free
 * IOVA, as iommufd guarantees) bounds the 6.12 VT-d driver, which walks into
 * the data page when a map lands inside a superpage or an unmap cuts one;
 * generic_pt, io-pgtable-arm and 6.12 AMD define overlapping maps and partial
 * unmaps, so their sequences also break the contract on purpose.
 *
 * Fixed edge cases (edgeCases) cover what random draws rarely hit: every page
 * size, the largest ones, the top of the VA space, unaligned IOVA/PA
 * combinations, every prot combination, partial unmaps of large leaves,
 * table-to-leaf conversion, the output-address limit (52-bit with the 64K
 * granule), sign-extended upper halves, dynamic top growth, dirty tracking.
 */
import fc from 'fast-check';
import type { PtConfig } from './configs.ts';
import type { DomainInfo, PtOp, PtResult } from './protocol.ts';

/** IOMMU_* prot bits (include/linux/iommu.h). */
const R = 1;
const W = 2;
const CACHE = 4;
const NOEXEC = 8;
const MMIO = 16;
const PRIV = 32;
const NO_CLEAR = 1;

export interface NamedCase {
  readonly name: string;
  readonly ops: readonly PtOp[];
}

/** Anything that executes an operation and answers (the kernel harness, our core, or both). */
export interface Executor {
  exec(op: PtOp): Promise<PtResult>;
}

/** What the commands know: the domain and the map calls that succeeded (and ranges that may still be mapped). */
export interface Model {
  readonly cfg: PtConfig;
  readonly info: DomainInfo;
  readonly sizes: readonly number[];
  /** Successful map calls not yet unmapped as a whole. */
  maps: { iova: bigint; size: bigint }[];
  /** Every range that may hold mappings (maps plus remains of partial unmaps). */
  occupied: { iova: bigint; size: bigint }[];
}

export function pgsizeList(bitmap: bigint): number[] {
  const out: number[] = [];
  for (let b = 0; b < 64; b++) if ((bitmap >> BigInt(b)) & 1n) out.push(b);
  return out;
}

function overlaps(a: bigint, alen: bigint, b: bigint, blen: bigint): boolean {
  return a < b + blen && b < a + alen;
}

function vaTop(m: Model): bigint {
  const top = m.info.apertureEnd + 1n;
  const byBits = 1n << BigInt(Math.min(m.cfg.vaBits, 64));
  return top < byBits ? top : byBits;
}

/** IOVA windows: low, just under the top of the VA, and the sign-extended upper half. */
function windows(m: Model): [bigint, bigint][] {
  const start = m.info.apertureStart;
  const top = vaTop(m);
  const span = 1n << 40n;
  const w: [bigint, bigint][] = [[start, start + span < top ? start + span : top]];
  w.push([top - span > start ? top - span : start, top]);
  if (m.cfg.signExtend) {
    const half = 1n << BigInt(m.cfg.vaBits - 1);
    w.push([(1n << 64n) - half, 1n << 64n]);
  }
  return w;
}

function alignDown(v: bigint, lg2: number): bigint {
  return (v >> BigInt(lg2)) << BigInt(lg2);
}

/** Parameters of a map, drawn before the model is known. */
export interface MapDraw {
  readonly window: number;
  readonly pos: number;
  readonly sizeIdx: number;
  readonly count: number;
  readonly extra: number;
  readonly alignDrop: number;
  readonly paMode: number;
  readonly paPos: number;
  readonly prot: number;
  readonly overlap: boolean;
}

const protArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(R | W, R, W, R | W | CACHE) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }).chain((rw) => fc.integer({ min: 0, max: 15 }).map((x) => rw | (x << 2))) },
  { weight: 1, arbitrary: fc.constantFrom(0, CACHE, NOEXEC | MMIO | PRIV) },
);

export const mapDrawArb: fc.Arbitrary<MapDraw> = fc.record({
  window: fc.nat(),
  pos: fc.double({ min: 0, max: 1, noNaN: true }),
  sizeIdx: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: fc.nat({ max: 63 }) }),
  count: fc.integer({ min: 1, max: 3 }),
  extra: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
  alignDrop: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) }),
  paMode: fc.nat({ max: 3 }),
  paPos: fc.double({ min: 0, max: 1, noNaN: true }),
  prot: protArb,
  overlap: fc.boolean(),
});

/** Turn a draw into a concrete map on this model (null: no room). */
export function resolveMap(m: Model, d: MapDraw): PtOp | null {
  const sizes = m.sizes;
  const p0 = sizes[0] as number;
  let s = sizes[Math.min(d.sizeIdx, sizes.length - 1)] as number;
  // A PA shifted against the IOVA allows only the smallest leaves: keep such maps to ~1024 of them.
  if (d.paMode === 2) s = Math.min(s, p0 + 10);
  // Alignment at least s - 12 so no map needs more than ~4096 * count smallest leaves.
  const a = Math.max(p0, s - d.alignDrop, s - 12);
  const size = BigInt(d.count) * (1n << BigInt(s)) + BigInt(d.extra) * (1n << BigInt(p0));
  const wins = windows(m);
  const [lo, hi] = wins[d.window % wins.length] as [bigint, bigint];
  if (hi - lo < size) return null;
  const room = hi - lo - size;
  let iova = alignDown(lo + BigInt(Math.floor(Number(room) * d.pos)), a);
  if (iova < lo) iova += 1n << BigInt(a);
  if (iova + size > hi) return null;
  const allowOverlap = d.overlap && m.cfg.family !== 'vtd612';
  if (!allowOverlap) {
    // Move up past any occupied range; give up after a few steps.
    for (let tries = 0; tries < 8; tries++) {
      const hit = m.occupied.find((o) => overlaps(iova, size, o.iova, o.size));
      if (hit === undefined) break;
      iova = alignDown(hit.iova + hit.size + (1n << BigInt(a)) - 1n, a);
      if (iova + size > hi) return null;
      if (tries === 7) return null;
    }
    if (m.occupied.some((o) => overlaps(iova, size, o.iova, o.size))) return null;
  }
  const oaTop = 1n << BigInt(m.cfg.oaBits);
  let pa: bigint;
  switch (d.paMode) {
    case 0: // identity where possible
      pa = iova % oaTop;
      break;
    case 1: // same alignment, elsewhere
      pa = alignDown(BigInt(Math.floor(Number(oaTop - size) * d.paPos)), a);
      break;
    case 2: // shifted by one smallest page against the IOVA's large-page offset
      pa = (alignDown(BigInt(Math.floor(Number(oaTop - size) * d.paPos)), a) + (1n << BigInt(p0))) % oaTop;
      break;
    default: // near the top of the output address space
      pa = alignDown(oaTop - size - BigInt(Math.floor(Number(1n << 30n) * d.paPos)), a);
      if (pa < 0n) pa = 0n;
      break;
  }
  return { op: 'map', iova, pa: alignDown(pa, p0), size, prot: d.prot };
}

export interface UnmapDraw {
  readonly pick: number;
  readonly mode: number;
  readonly pos: number;
}

export function resolveUnmap(m: Model, d: UnmapDraw): PtOp | null {
  const p0 = 1n << BigInt(m.sizes[0] as number);
  const fam = m.cfg.family;
  const modes = fam === 'vtd612' ? 2 : fam === 'amd612' ? 6 : 6;
  const mode = d.mode % modes;
  if (mode === 5) {
    const wins = windows(m);
    const [lo, hi] = wins[d.pick % wins.length] as [bigint, bigint];
    const span = 1n << 24n;
    const iova = alignDown(lo + BigInt(Math.floor(Number(hi - lo - span > 0n ? hi - lo - span : 0n) * d.pos)), m.sizes[0] as number);
    return { op: 'unmap', iova, size: p0 * BigInt(1 + Math.floor(d.pos * 1000)) };
  }
  if (m.maps.length === 0) return null;
  const sorted = [...m.maps].sort((x, y) => (x.iova < y.iova ? -1 : 1));
  const i = d.pick % sorted.length;
  const c = sorted[i] as { iova: bigint; size: bigint };
  switch (mode) {
    case 0:
      return { op: 'unmap', iova: c.iova, size: c.size };
    case 1: {
      // Aggregate the contiguous calls that follow.
      let end = c.iova + c.size;
      for (let j = i + 1; j < sorted.length && (sorted[j] as { iova: bigint }).iova === end; j++) end += (sorted[j] as { size: bigint }).size;
      return { op: 'unmap', iova: c.iova, size: end - c.iova };
    }
    case 2: // the first smallest page of a call (a partial unmap of its first leaf)
      return { op: 'unmap', iova: c.iova, size: p0 };
    case 3: {
      // a smallest page inside a call
      const n = c.size / p0;
      return { op: 'unmap', iova: c.iova + p0 * BigInt(Math.floor(Number(n) * d.pos) % Number(n)), size: p0 };
    }
    default: // the call plus one page beyond it
      return { op: 'unmap', iova: c.iova, size: c.size + p0 };
  }
}

function pickIova(m: Model, pick: number, pos: number): bigint {
  if (m.maps.length === 0 || pick % 5 === 4) {
    const wins = windows(m);
    const [lo, hi] = wins[pick % wins.length] as [bigint, bigint];
    return lo + BigInt(Math.floor(Number(hi - lo - 1n) * pos));
  }
  const c = m.maps[pick % m.maps.length] as { iova: bigint; size: bigint };
  return c.iova + BigInt(Math.floor(Number(c.size - 1n) * pos));
}

function record(m: Model, op: PtOp, r: PtResult): void {
  if (op.op === 'map') {
    if (r.ret === 0n) {
      m.maps.push({ iova: op.iova, size: op.size });
      m.occupied.push({ iova: op.iova, size: op.size });
    } else {
      // A failed map is undone by iommu_map, but a replaced or refused overlap may leave others: keep it occupied.
      m.occupied.push({ iova: op.iova, size: op.size });
    }
  } else if (op.op === 'unmap' && r.ret !== undefined && r.ret > 0n) {
    const lo = op.iova;
    const hi = op.iova + r.ret;
    const exact = (c: { iova: bigint; size: bigint }): boolean => c.iova >= lo && c.iova + c.size <= hi;
    m.maps = m.maps.filter((c) => !overlaps(c.iova, c.size, lo, hi - lo));
    m.occupied = m.occupied.filter((c) => !exact(c));
  }
}

type Cmd = fc.AsyncCommand<Model, Executor>;

class OpCommand implements Cmd {
  constructor(
    private readonly label: string,
    private readonly resolve: (m: Model) => PtOp | null,
  ) {}

  check(m: Readonly<Model>): boolean {
    return this.resolve(m as Model) !== null;
  }

  async run(m: Model, e: Executor): Promise<void> {
    const op = this.resolve(m);
    if (op === null) return;
    const r = await e.exec(op);
    record(m, op, r);
  }

  toString(): string {
    return this.label;
  }
}

/** The command arbitrary of a configuration (dirty commands only where the driver tracks dirtiness). */
export function commandsArb(cfg: PtConfig, maxCommands = 10): fc.Arbitrary<Iterable<Cmd>> {
  const cmds: fc.Arbitrary<Cmd>[] = [
    mapDrawArb.map((d) => new OpCommand(`map(${JSON.stringify(d)})`, (m) => resolveMap(m, d))),
    mapDrawArb.map((d) => new OpCommand(`map(${JSON.stringify(d)})`, (m) => resolveMap(m, d))),
    fc
      .record({ pick: fc.nat(), mode: fc.nat(), pos: fc.double({ min: 0, max: 1, noNaN: true }) })
      .map((d) => new OpCommand(`unmap(${JSON.stringify(d)})`, (m) => resolveUnmap(m, d))),
    fc
      .record({ pick: fc.nat(), pos: fc.double({ min: 0, max: 1, noNaN: true }) })
      .map((d) => new OpCommand(`phys(${JSON.stringify(d)})`, (m) => ({ op: 'phys', iova: pickIova(m, d.pick, d.pos) }))),
  ];
  if (cfg.dirty) {
    cmds.push(
      fc
        .record({ pick: fc.nat(), pos: fc.double({ min: 0, max: 1, noNaN: true }) })
        .map((d) => new OpCommand(`setdirty(${JSON.stringify(d)})`, (m) => (m.maps.length ? { op: 'setdirty', iova: pickIova(m, d.pick % 4, d.pos) } : null))),
      fc.record({ pick: fc.nat(), flags: fc.constantFrom(0, NO_CLEAR) }).map(
        (d) =>
          new OpCommand(`dirty(${JSON.stringify(d)})`, (m) => {
            if (m.maps.length === 0) return null;
            const c = m.maps[d.pick % m.maps.length] as { iova: bigint; size: bigint };
            return { op: 'dirty', iova: c.iova, size: c.size, flags: d.flags };
          }),
      ),
    );
  }
  return fc.commands(cmds, { maxCommands });
}

export function newModel(cfg: PtConfig, info: DomainInfo): Model {
  return { cfg, info, sizes: pgsizeList(info.pgsizes), maps: [], occupied: [] };
}

// ---------------------------------------------------------------- edge cases

function m(iova: bigint, pa: bigint, size: bigint, prot = R | W): PtOp {
  return { op: 'map', iova, pa, size, prot };
}
function u(iova: bigint, size: bigint): PtOp {
  return { op: 'unmap', iova, size };
}
function ph(iova: bigint): PtOp {
  return { op: 'phys', iova };
}
const DUMP: PtOp = { op: 'dump' };

/** The fixed edge cases of a configuration (each ends with a dump; most dump after every change). */
export function edgeCases(cfg: PtConfig, info: DomainInfo): NamedCase[] {
  const model = newModel(cfg, info);
  const sizes = model.sizes;
  const p0 = sizes[0] as number;
  const P0 = 1n << BigInt(p0);
  const fam = cfg.family;
  const legacyVtd = fam === 'vtd612';
  const start = info.apertureStart;
  const top = vaTop(model);
  const oaTop = 1n << BigInt(cfg.oaBits);
  const out: NamedCase[] = [];
  const add = (name: string, ops: PtOp[]): void => {
    out.push({ name, ops: [...ops, DUMP] });
  };
  const big = sizes.filter((s) => s > p0);
  const s1 = big[0];

  // Every page size: map one leaf at an address aligned to it, look it up, unmap it.
  const every: PtOp[] = [];
  let slot = 0n;
  for (const s of sizes) {
    const S = 1n << BigInt(s);
    const iova = ((start + S - 1n) / S) * S + S * slot;
    slot++;
    if (iova + S > top || S > oaTop / 2n) continue;
    every.push(m(iova, S, S), ph(iova + S / 2n + 42n), DUMP, u(iova, S), ph(iova));
  }
  add('every-size', every);

  // The largest page sizes together, kept mapped, near the top of the VA space.
  const largest = sizes.slice(-3).reverse();
  const topOps: PtOp[] = [];
  let cursor = top;
  for (const s of largest) {
    const S = 1n << BigInt(s);
    cursor = alignDown(cursor - S, s);
    if (cursor < start || S > oaTop / 2n) continue;
    topOps.push(m(cursor, oaTop / 2n - S, S, R), ph(cursor + S - 1n));
  }
  add('largest-at-top', topOps);

  // The last smallest page of the VA space, a map crossing the top, one past it.
  // (An IOVA of 2^64 does not exist: the kernel API takes unsigned long.)
  const past: PtOp[] = top < 1n << 64n ? [m(top, P0, P0)] : [];
  add('top-of-va', [m(top - P0, P0, P0), ph(top - 1n), m(top - P0, P0, 2n * P0), ...past, DUMP, u(top - P0, P0)]);

  // Unaligned combinations: IOVA aligned, PA one page off (no large pages), and the reverse.
  if (s1 !== undefined) {
    const S = 1n << BigInt(s1);
    const base = ((start + S - 1n) / S) * S + 4n * S;
    add('unaligned-pa', [m(base, S + P0, 2n * S), DUMP, u(base, 2n * S)]);
    add('unaligned-iova', [m(base + P0, S + P0, 2n * S), DUMP, u(base + P0, 2n * S)]);
    add('small-large-small', [m(base + S - P0, S - P0, S + 2n * P0), DUMP, ph(base + S), u(base + S - P0, S + 2n * P0)]);
    add('misaligned-by-half-page', [m(base + P0 / 2n, S, P0), m(base, S + P0 / 2n, P0), m(base, S, P0 / 2n), m(base, S, 0n)]);
  }

  // Every prot combination, one smallest page each.
  const prots: PtOp[] = [];
  for (let prot = 0; prot < 64; prot++) prots.push(m(start + P0 * BigInt(prot), P0 * BigInt(prot + 1), P0, prot));
  prots.push(DUMP);
  for (let prot = 0; prot < 64; prot++) prots.push(ph(start + P0 * BigInt(prot)));
  add('every-prot', prots);
  add('read-only-write-only', [m(start, P0, P0, R), m(start + P0, 2n * P0, P0, W), m(start + 2n * P0, 3n * P0, P0, W | NOEXEC | CACHE)]);

  // Output-address limit.
  add('oa-limit', [m(start, oaTop - P0, P0), m(start + P0, oaTop, P0), m(start + 2n * P0, oaTop - P0, 2n * P0)]);
  if (cfg.oaBits > 48) add('oa-high-bits', [m(start, (oaTop / 2n) | (1n << 48n) | (0xfn << 44n), 1n << BigInt(sizes[sizes.length > 1 ? 1 : 0] as number))]);

  if (s1 !== undefined) {
    const S = 1n << BigInt(s1);
    const base = ((start + S - 1n) / S) * S + 8n * S;
    // Unmaps that cut a large leaf: at its first page (all but 6.12 VT-d's contract) and inside it.
    if (!legacyVtd) {
      add('unmap-first-page-of-large', [m(base, base, S), u(base, P0), DUMP, ph(base + P0), u(base, S)]);
      add('unmap-inside-large', [m(base, base, S), u(base + P0, P0), DUMP, ph(base), u(base, S)]);
      add('unmap-range-ending-inside-large', [m(base - P0, base - P0, P0), m(base, base, S), u(base - P0, 2n * P0), DUMP]);
    }
    // Small pages, unmapped; then a large page over the emptied table (table-to-leaf).
    add('table-to-leaf', [m(base, base, P0), m(base + P0, base + P0, P0), DUMP, u(base, 2n * P0), DUMP, m(base, 4n * S, S), DUMP, u(base, S)]);
    // A large page over a table that still holds a leaf.
    if (!legacyVtd) add('large-over-live-table', [m(base + P0, base + P0, P0), m(base, 4n * S, S), DUMP, u(base, S), u(base + P0, P0)]);
    // Overlaps.
    if (!legacyVtd) {
      add('overlap-same', [m(base, base, S), m(base, 2n * S, S), DUMP, u(base, S)]);
      add('overlap-small-in-large', [m(base, base, S), m(base + P0, P0, P0), DUMP, u(base, S)]);
    }
    add('overlap-exact-small', [m(base, base, P0), m(base, 2n * base, P0), DUMP, u(base, P0)]);
    // Unmap of a hole, and of a range running into a hole.
    add('unmap-hole', [u(base, P0), m(base, base, P0), u(base, 4n * P0), DUMP]);
    // Aggregated unmap of adjacent map calls of different sizes; fully covered tables are freed.
    add('aggregate-unmap', [m(base - P0, base - P0, P0), m(base, base, S), m(base + S, base + S, P0), DUMP, u(base - P0, S + 2n * P0), DUMP]);
  }
  // A whole level-1 table of smallest pages, then one unmap covering it.
  const tbl = 1n << BigInt(p0 + (cfg.driver === 'arm' ? p0 - 3 : 9));
  const tb = ((start + tbl - 1n) / tbl) * tbl + 2n * tbl;
  if (tb + tbl <= top) add('full-table', [m(tb, P0, tbl, R | W), DUMP, u(tb, tbl), DUMP]);

  // Bad arguments.
  add('bad-args', [m(start, P0, P0, 0), m(start, P0, 0n), u(start, 0n), m(start, P0, P0, CACHE | NOEXEC), m(start + P0 / 2n, P0, P0)]);

  // Dynamic top (AMD v1): maps far up grow the table one level at a time.
  if (cfg.core.format === 'amd-v1') {
    const ups: PtOp[] = [];
    for (const b of [40n, 48n, 52n, 57n, 63n]) ups.push(m(1n << b, P0 * (b - 39n), P0), DUMP);
    ups.push(m((1n << 64n) - P0, P0, P0), ph((1n << 64n) - 1n), u(1n << 48n, P0));
    add('dynamic-top', ups);
    add('pgsize-512g-gap', [m(1n << 40n, 0n, 1n << 40n), DUMP, u(1n << 40n, 1n << 40n)]);
  }
  // Sign-extended upper half (x86-64 first stage).
  if (cfg.signExtend) {
    const half = 1n << BigInt(cfg.vaBits - 1);
    const upper = (1n << 64n) - half;
    add('sign-extend', [m((1n << 64n) - P0, P0, P0), m(upper, 2n * P0, P0), m(half, 3n * P0, P0), m(half - P0, 4n * P0, P0), DUMP, ph((1n << 64n) - 1n), ph(upper)]);
  }
  // Dirty tracking.
  if (cfg.dirty && s1 !== undefined) {
    const S = 1n << BigInt(s1);
    const base = ((start + S - 1n) / S) * S + 16n * S;
    add('dirty', [
      m(base, base, S, R | W),
      m(base + S, base + S, P0, R | W),
      m(base + S + P0, base + S + P0, P0, R),
      { op: 'dirty', iova: base, size: S + 2n * P0, flags: 0 },
      { op: 'setdirty', iova: base + P0 },
      { op: 'setdirty', iova: base + S },
      { op: 'setdirty', iova: base + S + P0 },
      { op: 'setdirty', iova: base + 2n * S },
      DUMP,
      { op: 'dirty', iova: base, size: S + 2n * P0, flags: NO_CLEAR },
      { op: 'dirty', iova: base, size: S + 2n * P0, flags: 0 },
      { op: 'dirty', iova: base, size: S + 2n * P0, flags: 0 },
    ]);
  }
  return out;
}
