import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMemory } from '../lib/physmem.ts';
import { EADDRINUSE, EEXIST, EINVAL, ENOENT, ENXIO, ERANGE } from '../lib/errno.ts';
import { makeGeometry, IOMMU_READ, IOMMU_WRITE, type FormatConfig, type PtGeometry } from '../pagetable/format.ts';
import type { IoPageTable } from '../pagetable/table.ts';
import { createPageTable } from '../pagetable/index.ts';
import { bestPgsizeLg2, iommuPgsize } from '../pagetable/pgsize.ts';
import { MockSparseTable } from '../pagetable/mock612.ts';
import { IotlbGather } from '../pagetable/gather.ts';
import { ACC_READ, ACC_WRITE, FAULT_PERMISSION, FAULT_TRANSLATION, walk, walkTableFrom, WalkResult } from './walker.ts';
import { ENOMEM } from '../lib/errno.ts';

const BIG = process.env.IOMMUFD_SPEC_BUDGET === 'large';
/** Pinned seeds; IOMMUFD_SPEC_SEED overrides them for exploratory runs. */
const SEED = process.env.IOMMUFD_SPEC_SEED === undefined ? null : Number(process.env.IOMMUFD_SPEC_SEED);
const RW = IOMMU_READ | IOMMU_WRITE;

function geom(cfg: FormatConfig): PtGeometry {
  const g = makeGeometry(cfg);
  if (typeof g === 'string') throw new Error(`bad config field ${g}`);
  return g;
}

function table(mem: PhysMemory, cfg: FormatConfig): IoPageTable {
  const t = createPageTable(mem, geom(cfg));
  if (typeof t === 'number') throw new Error(`create failed ${t}`);
  return t;
}

const FORMATS: FormatConfig[] = [
  { format: 'vtd-ss', levels: 3 },
  { format: 'vtd-ss', levels: 4 },
  { format: 'vtd-ss', levels: 5 },
  { format: 'x86-64', levels: 4 },
  { format: 'x86-64', levels: 5 },
  { format: 'amd-v1' },
  { format: 'mock-amdv1' },
  { format: 'arm-s1', granule: 4096, ias: 48, dirty: true },
  { format: 'arm-s1', granule: 16384, ias: 48 },
  { format: 'arm-s1', granule: 65536, ias: 48 },
  { format: 'arm-s2', granule: 4096, ias: 40, dirty: true },
  { format: 'arm-s2', granule: 16384, ias: 48 },
  { format: 'arm-s2', granule: 65536, ias: 44 },
];

const label = (c: FormatConfig): string => JSON.stringify(c);

/** What a map over a present leaf answers: generic_pt -EADDRINUSE, io-pgtable-arm -EEXIST. */
function overlapErr(t: IoPageTable): number {
  return t.g.driver === 'io-pgtable-arm' ? -EEXIST : -EADDRINUSE;
}

describe('round trips: every level x page size x permission', () => {
  for (const cfg of FORMATS) {
    it(label(cfg), () => {
      const mem = new PhysMemory({ size: 32 << 20 });
      const t = table(mem, cfg);
      const base = mem.tablePages;
      const sizes = t.g.pgsizes.filter((s) => s <= 33); // keep memory touched small
      for (const lg2 of sizes) {
        const size = 2 ** lg2;
        for (const prot of [IOMMU_READ, IOMMU_WRITE, RW]) {
          const iova = 2 ** 34; // fits every config's VA
          const oa = 2 ** 35 + size * 3;
          const vaOk = iova + size - 1 < 2 ** t.g.vaBits;
          if (!vaOk) continue;
          expect(t.map(iova, oa, size, prot)).toBe(0);
          expect(t.countLeaves()).toBe(1);
          for (const off of [0, 42, size - 1, Math.floor(size / 2)]) expect(t.iovaToPhys(iova + off)).toBe(oa + off);
          // The PTE decodes back to the same OA and a single leaf of the requested size.
          const w = t.findLeaf(iova);
          expect(w).toBeGreaterThan(0);
          const lo = mem.u32[w] as number;
          const hi = mem.u32[w + 1] as number;
          expect(t.fmt.leafOa(lo, hi, t.lastLevel)).toBe(oa);
          expect(t.g.itemLg2[t.lastLevel]! + t.fmt.contigLg2(lo, hi, t.lastLevel)).toBe(lg2);
          // Permissions decode back (Arm S1 / x86 have no read bit: always readable).
          const noReadBit = cfg.format === 'arm-s1' || cfg.format === 'x86-64';
          expect(t.fmt.leafProt(lo, hi) & RW).toBe(noReadBit ? prot | IOMMU_READ : prot);
          // The hardware walker agrees on address, size and permission.
          const wt = walkTableFrom(t.g, t.rootHw, t.topLevel, false);
          const res = new WalkResult();
          const canRead = noReadBit || (prot & IOMMU_READ) !== 0;
          expect(walk(mem, wt, iova + 42, ACC_READ, null, res, -1, -1, 3)).toBe(canRead ? 0 : FAULT_PERMISSION);
          expect(walk(mem, wt, iova + 42, ACC_WRITE, null, res, -1, -1, 3)).toBe(prot & IOMMU_WRITE ? 0 : FAULT_PERMISSION);
          if (prot & IOMMU_WRITE) {
            expect(res.pa).toBe(oa + 42);
            // Arm CONT entries are cached per entry; AMD replicas as the whole page.
            expect(res.leafLg2).toBe(cfg.format.startsWith('arm') ? t.g.itemLg2[t.lastLevel]! : lg2);
          }
          // Overlap refused without damage.
          // (generic_pt: -EADDRINUSE; io-pgtable-arm: -EEXIST from arm_lpae_init_pte.)
          expect(t.map(iova, oa, size, prot)).toBe(overlapErr(t));
          expect(t.iovaToPhys(iova + 42)).toBe(oa + 42);
          expect(t.unmap(iova, size)).toBe(size);
          expect(t.iovaToPhys(iova)).toBe(0);
          expect(t.countLeaves()).toBe(0);
        }
      }
      t.destroy();
      expect(base).toBeGreaterThan(0);
      expect(mem.tablePages).toBe(0);
    });
  }

  it('OA 0 and the largest OA encode and decode', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    for (const cfg of [{ format: 'vtd-ss' as const, oas: 52 }, { format: 'amd-v1' as const }, { format: 'arm-s1' as const, oas: 48 }]) {
      const t = table(mem, cfg);
      const maxOa = 2 ** t.g.oaBits - 4096;
      expect(t.map(0x1000, 0, 4096, RW)).toBe(0);
      expect(t.map(0x2000, maxOa, 4096, RW)).toBe(0);
      expect(t.iovaToPhys(0x1000 + 5)).toBe(5);
      expect(t.iovaToPhys(0x2000 + 7)).toBe(maxOa + 7);
      expect(t.map(0x3000, 2 ** t.g.oaBits, 4096, RW)).toBe(-ERANGE);
      t.destroy();
    }
  });
});

describe('the walker takes a block leaf\'s output address from the bits at and above its size', () => {
  // Arm ARM (VMSAv8-64 block descriptors): OA bits below the block size are RES0; VT-d and x86
  // (superpage entries): they are reserved and fault. Either way a device never reaches the entry's
  // low address bits added to the offset, which is what a page size chosen from the IOVA alone
  // (iommu_pgsize without the PA) would rely on.
  for (const cfg of FORMATS) {
    it(label(cfg), () => {
      const mem = new PhysMemory({ size: 32 << 20 });
      const t = table(mem, cfg);
      const lg2 = t.g.itemLg2[1] as number;
      if (!t.g.pgsizes.includes(lg2) || lg2 > 30) return;
      const size = 2 ** lg2;
      const iova = 2 ** 34;
      const oa = 2 ** 35;
      if (iova + size - 1 >= 2 ** t.g.vaBits) return;
      expect(t.map(iova, oa, size, RW)).toBe(0);
      const w = t.findLeaf(iova);
      const lo = mem.u32[w] as number;
      const hi = mem.u32[w + 1] as number;
      if (t.fmt.contigLg2(lo, hi, 1) !== 0) return; // a size code in the low bits (AMD v1 NL=7)
      // The entry as a bad map would write it: the lowest bit of its address field set (bit 12, or
      // the granule's for Arm's larger ones), an OA off the block's alignment.
      mem.u32[w] = (lo + 2 ** Math.max(12, t.g.granLg2)) >>> 0;
      const written = t.fmt.leafOa(mem.u32[w] as number, hi, 1);
      expect(written).toBeGreaterThan(oa);
      expect(written).toBeLessThan(oa + size);
      const res = new WalkResult();
      const rc = walk(mem, walkTableFrom(t.g, t.rootHw, t.topLevel, false), iova + 42, ACC_READ, null, res, -1, -1, 3);
      expect(rc).toBe(0);
      expect(res.pa).toBe(oa + 42);
      expect(res.leafPa).toBe(oa);
    });
  }
});

describe('page size choice', () => {
  const oracle = (sizes: number[], va: number, last: number, oa: number): number => {
    let best = 0;
    for (const s of sizes) {
      const p = 2 ** s;
      if (va % p === 0 && oa % p === 0 && p <= last - va + 1) best = s;
    }
    return best;
  };
  it('pt_compute_best_pgsize matches a brute-force oracle', () => {
    const sizes = geom({ format: 'amd-v1' }).pgsizes;
    const vtd = geom({ format: 'vtd-ss' }).pgsizes;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 1, max: 2 ** 34 }),
        fc.integer({ min: 0, max: 20 }),
        (v, o, len, sh) => {
          const va = Math.floor(v / 2 ** sh) * 2 ** sh;
          const oa = Math.floor(o / 2 ** sh) * 2 ** sh;
          for (const s of [sizes, vtd]) expect(bestPgsizeLg2(s, va, va + len - 1, oa)).toBe(oracle(s, va, va + len - 1, oa));
        },
      ),
      { seed: SEED ?? 42, numRuns: BIG ? 20000 : 500 },
    );
  });
  it('iommu_pgsize stops where the next size becomes usable', () => {
    expect(iommuPgsize([12, 21, 30], 0x1ff000, 0x1ff000, 0x400000)).toEqual([12, 1]);
    expect(iommuPgsize([12, 21, 30], 0x200000, 0x200000, 0x400000)).toEqual([21, 2]);
    expect(iommuPgsize([12, 21], 0x1000, 0x2000, 0x400000)).toEqual([12, 1024]);
  });
});

/** Interval model: mapped ranges [va, va+len) -> oa. */
interface Range {
  va: number;
  len: number;
  oa: number;
}

function randomMapCheck(cfg: FormatConfig, runs: number, seed: number): void {
  const g0 = geom(cfg);
  const unitLg2 = g0.granLg2;
  const unit = 2 ** unitLg2;
  const op = fc.record({
    kind: fc.constantFrom('map', 'map', 'unmap'),
    start: fc.integer({ min: 0, max: 2047 }),
    pages: fc.integer({ min: 1, max: 700 }),
    oaShift: fc.integer({ min: 0, max: 3 }),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
      const mem = new PhysMemory({ size: 16 << 20 });
      const t = table(mem, cfg);
      const model: Range[] = [];
      const base = 2 ** 33;
      for (const o of ops) {
        const va = base + o.start * unit;
        const len = Math.min(o.pages, 2048 - o.start) * unit;
        if (o.kind === 'map') {
          const oa = 2 ** 36 + (o.start + o.oaShift) * unit;
          const overlaps = model.some((r) => r.va < va + len && va < r.va + r.len);
          const rc = t.map(va, oa, len, RW);
          if (overlaps) {
            expect(rc).toBe(overlapErr(t));
            // Undo partial progress as iommu_map does.
            if (t.mapped > 0) expect(t.unmap(va, t.mapped)).toBeGreaterThanOrEqual(t.mapped);
          } else {
            expect(rc).toBe(0);
            model.push({ va, len, oa });
          }
        } else {
          // iommufd unmaps whole areas: pick the model ranges the op touches and remove them whole.
          const hit = model.filter((r) => r.va < va + len && va < r.va + r.len);
          for (const r of hit) {
            expect(t.unmap(r.va, r.len)).toBe(r.len);
            model.splice(model.indexOf(r), 1);
          }
        }
        // Every smallest page of the window agrees with the model, in iova_to_phys and through the walker.
        const wt = walkTableFrom(t.g, t.rootHw, t.topLevel, false);
        const res = new WalkResult();
        for (let p = 0; p < 2048; p++) {
          const a = base + p * unit;
          const r = model.find((x) => x.va <= a && a < x.va + x.len);
          const want = r === undefined ? 0 : r.oa + (a - r.va) + 1;
          expect(t.iovaToPhys(a + 1)).toBe(want);
          const rc = walk(mem, wt, a + 1, ACC_WRITE, null, res, -1, -1, 3);
          expect(rc).toBe(r === undefined ? FAULT_TRANSLATION : 0);
          if (rc === 0) expect(res.pa).toBe(want);
        }
        expect(t.mappedBytes).toBe(model.reduce((n, x) => n + x.len, 0));
      }
      for (const r of [...model]) expect(t.unmap(r.va, r.len)).toBe(r.len);
      expect(t.countLeaves()).toBe(0);
      t.destroy();
      expect(mem.tablePages).toBe(0);
    }),
    { seed, numRuns: runs },
  );
}

describe('random map/unmap against an interval model (kunit random_map shape)', () => {
  const runs = BIG ? 100 : 12;
  for (const cfg of [
    { format: 'vtd-ss' } as FormatConfig,
    { format: 'amd-v1' } as FormatConfig,
    { format: 'arm-s1', granule: 4096 } as FormatConfig,
    { format: 'arm-s2', granule: 16384, ias: 40 } as FormatConfig,
    { format: 'mock-amdv1' } as FormatConfig,
    // Non-coherent walker: it only sees what the table code flushed, so this checks every flush.
    { format: 'amd-v1', nonCoherentWalk: true } as FormatConfig,
    { format: 'arm-s1', granule: 65536, nonCoherentWalk: true } as FormatConfig,
  ]) {
    it(label(cfg), () => randomMapCheck(cfg, runs, SEED ?? 7), BIG ? 900_000 : undefined);
  }
});

describe('generic_pt kunit_iommu_pt.h case shapes', () => {
  it('map_simple: one page of every size, one leaf each, unmap all -> 0 leaves', () => {
    for (const cfg of FORMATS) {
      const mem = new PhysMemory({ size: 16 << 20 });
      const t = table(mem, cfg);
      let va = 2 ** 36;
      const done: [number, number][] = [];
      for (const lg2 of t.g.pgsizes.filter((s) => s <= 32)) {
        const sz = 2 ** lg2;
        va = Math.ceil(va / sz) * sz;
        if (va + sz > 2 ** t.g.vaBits) continue;
        expect(t.map(va, va, sz, RW)).toBe(0);
        done.push([va, sz]);
        va += sz;
      }
      expect(t.countLeaves()).toBe(done.length);
      for (const [v, s] of done) expect(t.iovaToPhys(v + s - 1)).toBe(v + s - 1);
      for (const [v, s] of done) expect(t.unmap(v, s)).toBe(s);
      expect(t.countLeaves()).toBe(0);
      t.destroy();
      expect(mem.tablePages).toBe(0);
    }
  });

  it('unmap_split: unmapping the first page of a large page removes it whole; never runs into a neighbour', () => {
    const mem = new PhysMemory({ size: 16 << 20 });
    const t = table(mem, { format: 'vtd-ss' });
    expect(t.map(0x40000000, 0x40000000, 0x200000, RW)).toBe(0);
    expect(t.map(0x40200000, 0x80200000, 0x1000, RW)).toBe(0);
    expect(t.unmap(0x40000000 + 0x1000, 0x1000)).toBe(0); // starts inside: refused
    expect(t.unmap(0x40000000, 0x1000)).toBe(0x200000);
    expect(t.iovaToPhys(0x40200000)).toBe(0x80200000);
    t.destroy();
  });

  it('map_table_to_oa: empty tables left by unmaps are replaced by a large leaf', () => {
    const mem = new PhysMemory({ size: 16 << 20 });
    const t = table(mem, { format: 'vtd-ss' });
    const base = mem.tablePages;
    const va = 0x40000000;
    for (let i = 0; i < 512; i++) expect(t.map(va + i * 4096, va + i * 4096 + 4096, 4096, RW)).toBe(0);
    expect(t.unmap(va, 0x100000)).toBe(0x100000);
    for (let i = 256; i < 512; i++) expect(t.unmap(va + i * 4096, 4096)).toBe(4096);
    expect(mem.tablePages).toBe(base + 3); // the emptied leaf table stays
    expect(t.map(va, va, 0x200000, RW)).toBe(0);
    expect(mem.tablePages).toBe(base + 2);
    expect(t.countLeaves()).toBe(1);
    t.destroy();
  });

  it('increase_level: AMD v1 grows the top one level at a time', () => {
    const mem = new PhysMemory({ size: 16 << 20 });
    // amdv1pt_iommu_fmt_init refuses starting_level 0: the smallest start is two levels.
    expect(makeGeometry({ format: 'amd-v1', levels: 1 })).toBe('levels');
    const t = table(mem, { format: 'amd-v1', levels: 2 });
    let changes = 0;
    t.onChangeTop = () => changes++;
    expect(t.topLevel).toBe(1);
    for (let lvl = 2; lvl <= 4; lvl++) {
      const va = 2 ** (12 + 9 * lvl);
      expect(t.map(va, 0x1000, 4096, RW)).toBe(0);
      expect(t.topLevel).toBe(lvl);
      expect(t.iovaToPhys(va)).toBe(0x1000);
    }
    expect(changes).toBe(3);
    expect(t.map(2 ** 53, 0, 4096, RW)).not.toBe(0);
    t.destroy();
    expect(mem.tablePages).toBe(0);
  });

  it('pgsize_boundary regression range maps exactly', () => {
    const mem = new PhysMemory({ size: 16 << 20 });
    for (const cfg of [{ format: 'amd-v1' } as FormatConfig, { format: 'vtd-ss' } as FormatConfig]) {
      const t = table(mem, cfg);
      const len = 0xfef9ffff - 0xfef80000 + 1;
      expect(t.map(0xfef80000, 0x208b95d000, len, RW)).toBe(0);
      for (let o = 0; o < len; o += 4096) expect(t.iovaToPhys(0xfef80000 + o)).toBe(0x208b95d000 + o);
      t.destroy();
    }
  });

  it('mixed: 14 x 2M + 3 x 1G + 3 x 2M = 20 leaves', () => {
    const mem = new PhysMemory({ size: 16 << 20 });
    for (const cfg of [{ format: 'vtd-ss' } as FormatConfig, { format: 'x86-64' } as FormatConfig, { format: 'arm-s1' } as FormatConfig]) {
      const t = table(mem, cfg);
      const start = 0x3fe400 * 4096;
      const end = 0x4c0600 * 4096;
      expect(t.map(start, start, end - start, RW)).toBe(0);
      expect(t.countLeaves()).toBe(20);
      for (let a = start; a < end; a += 0x200000) expect(t.iovaToPhys(a)).toBe(a);
      t.destroy();
    }
  });

  it('a failing table allocation (fail_nth) returns -ENOMEM with the progress in mapped', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const t = table(mem, { format: 'vtd-ss' });
    let n = 0;
    t.allocFail = () => ++n > 3; // root exists; the 3 tables for the first 2M succeed
    expect(t.map(0x40000000, 0x1000, 0x400000, RW)).toBe(-ENOMEM);
    expect(t.mapped).toBe(0x200000);
    expect(t.unmap(0x40000000, t.mapped)).toBe(0x200000);
    expect(t.countLeaves()).toBe(0);
    expect(t.tablePages).toBe(mem.tablePages);
    t.allocFail = null;
    t.destroy();
    expect(t.tablePages).toBe(0);
  });

  it('lookupLeaf describes the leaf covering an IOVA', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const t = table(mem, { format: 'amd-v1' });
    expect(t.map(0x100000, 0x300000, 0x10000, IOMMU_READ)).toBe(0);
    expect(t.lookupLeaf(0x105123)).toEqual({ iova: 0x100000, size: 0x10000, pa: 0x300000, prot: IOMMU_READ });
    expect(t.lookupLeaf(0x200000)).toBeNull();
    t.destroy();
  });

  it('misaligned map: generic_pt map_range says -ENXIO, the iommu core in front of io-pgtable says -EINVAL', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const gpt = table(mem, { format: 'vtd-ss' });
    expect(gpt.map(0x800, 0x1000, 0x1000, RW)).toBe(-ENXIO); // pt_compute_best_pgsize finds no size
    gpt.destroy();
    const arm = table(mem, { format: 'arm-s1', granule: 65536 });
    expect(arm.map(0x1000, 0x10000, 0x10000, RW)).toBe(-EINVAL); // __iommu_map_domain_pgtbl: not min_pagesz aligned
    arm.destroy();
  });
});

describe('Arm LPAE selftest matrix (io-pgtable-arm selftests shape)', () => {
  const granules = [4096, 16384, 65536];
  const iases = [32, 36, 40, 42, 44, 48];
  for (const format of ['arm-s1', 'arm-s2'] as const) {
    it(format, () => {
      for (const granule of granules) {
        for (const ias of iases) {
          const mem = new PhysMemory({ size: 16 << 20 });
          const t = table(mem, { format, granule, ias, oas: 48 });
          for (const iova of [42, 2 ** 30 + 42, 2 ** 31 + 42]) expect(t.iovaToPhys(iova)).toBe(0);
          let slot = 0;
          for (const lg2 of t.g.pgsizes) {
            const size = 2 ** lg2;
            const iova = Math.max(++slot * 2 ** 30, size) - (Math.max(++slot * 2 ** 30, size) % size);
            if (iova + size > 2 ** ias) continue;
            expect(t.map(iova, iova, size, RW)).toBe(0);
            expect(t.map(iova + size / 2 - ((size / 2) % 2 ** t.g.granLg2), iova, 2 ** t.g.granLg2, RW)).toBe(-EEXIST);
            expect(t.iovaToPhys(iova + 42)).toBe(iova + 42);
            expect(t.unmap(iova, size)).toBe(size);
            expect(t.iovaToPhys(iova + 42)).toBe(0);
            expect(t.map(iova, iova, size, RW)).toBe(0);
            expect(t.unmap(iova, size)).toBe(size);
          }
          // The last largest page below 2^IAS (concatenated stage-2 root corner case).
          const big = 2 ** (t.g.pgsizes[t.g.pgsizes.length - 1] as number);
          const lastVa = 2 ** ias - big;
          expect(t.map(lastVa, 0, big, RW)).toBe(0);
          expect(t.iovaToPhys(lastVa + big - 1)).toBe(big - 1);
          expect(t.unmap(lastVa, big)).toBe(big);
          t.destroy();
          expect(mem.tablePages).toBe(0);
        }
      }
    });
  }
});

describe('dirty tracking', () => {
  it('a dirty replicated AMD leaf reports its whole size, an Arm leaf its own; NO_CLEAR keeps it', () => {
    for (const cfg of [{ format: 'amd-v1', dirty: true } as FormatConfig, { format: 'arm-s1', dirty: true } as FormatConfig]) {
      const mem = new PhysMemory({ size: 8 << 20 });
      const t = table(mem, cfg);
      // 64K: 16 AMD replicas; 16 separate Arm 4K pages (io-pgtable-arm has no contiguous hint)
      expect(t.map(0x100000, 0x200000, 0x10000, RW)).toBe(0);
      const leaf = cfg.format === 'amd-v1' ? [0x100000, 0x10000] : [0x105000, 0x1000];
      const rec: [number, number][] = [];
      const r = { record: (a: number, l: number) => rec.push([a, l]) };
      const G = new IotlbGather();
      // Arm writable leaves start writable-dirty (DBM, AP[2] clear): clear first.
      t.readAndClearDirty(0x100000, 0x10000, 0, null, G);
      expect(t.setDirty(0x100000 + 5 * 4096)).toBe(0);
      t.readAndClearDirty(0x100000, 0x10000, 1, r, G);
      expect(rec).toEqual([leaf]);
      t.readAndClearDirty(0x100000, 0x10000, 0, r, G);
      expect(rec.length).toBe(2);
      t.readAndClearDirty(0x100000, 0x10000, 0, r, G);
      expect(rec.length).toBe(2);
      t.destroy();
    }
  });
});


describe('6.12 sparse mock domain', () => {
  it('keeps START/LAST markers and WARNs like selftest.c', () => {
    const m = new MockSparseTable(false);
    expect(m.map(0x1000000, 0x4000, 0x2000)).toBe(0);
    expect(m.iovaToPhys(0x1000800)).toBe(0x4800);
    expect(m.warnings).toBe(0);
    expect(m.unmap(0x1000000, 0x2000)).toBe(0x2000);
    expect(m.warnings).toBe(0);
    expect(m.map(0x1000000, 0x4000, 0x2000)).toBe(0);
    expect(m.unmap(0x1000800, 0x800)).toBe(0x800); // not a map boundary: START and LAST (one bit) both missing
    expect(m.warnings).toBe(2);
    expect(m.count).toBe(3);
    expect(m.map(0x1001, 0, 0x800)).toBe(-22);
  });
  it('huge IOVA: 1 MiB entries and dirty reported at huge size', () => {
    const m = new MockSparseTable(true);
    expect(m.map(0x1000000, 0x200000, 0x100000)).toBe(0);
    m.setDirtyTracking(true);
    expect(m.setDirty(0x1000000 + 0x800)).toBe(1);
    const rec: [number, number][] = [];
    expect(m.readAndClearDirty(0x1000000, 0x100000, 0, { record: (a, l) => rec.push([a, l]) })).toBe(0);
    expect(rec).toEqual([[0x1000000, 0x100000]]);
  });
});

describe('wide (64-bit) IOVAs', () => {
  it('AMD v1 grows to 6 levels for an IOVA near 2^64 and translates exactly', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const t = table(mem, { format: 'amd-v1' });
    const top = 2n ** 64n - 2n ** 21n;
    expect(t.mapWide(top, 0x200000, 0x200000, RW)).toBe(0);
    expect(t.topLevel).toBe(5);
    expect(t.iovaToPhysWide(top + 0x1234n)).toBe(0x201234);
    expect(t.iovaToPhysWide(top - 0x1000n)).toBe(0);
    // Same low 48 bits in another window must not alias.
    expect(t.iovaToPhysWide((top % 2n ** 48n) + 2n ** 60n)).toBe(0);
    expect(t.mapWide(2n ** 60n + 0x5000n, 0x9000, 0x1000, RW)).toBe(0);
    const rec: [bigint, number][] = [];
    expect(t.setDirty(0)).toBe(-ENOENT); // no leaf
    const g = new IotlbGather();
    expect(t.readAndClearDirtyWide(top, 0x200000, 1, { record: (a, l) => rec.push([a, l]) }, g)).toBe(0);
    expect(rec).toEqual([]);
    // A range crossing a 2^48 boundary is split there.
    const cross = 3n * 2n ** 48n - 0x2000n;
    expect(t.mapWide(cross, 0x400000, 0x4000, RW)).toBe(0);
    expect(t.iovaToPhysWide(cross + 0x3000n)).toBe(0x403000);
    expect(t.unmapWideNoSync(cross, 0x4000, g)).toBe(0x4000);
    expect(g.wide).toBe(true);
    t.sync(g);
    expect(t.unmapWideNoSync(top, 0x200000, g)).toBe(0x200000);
    expect(t.unmapWideNoSync(2n ** 60n + 0x5000n, 0x1000, g)).toBe(0x1000);
    t.sync(g);
    expect(t.countLeaves()).toBe(0);
    t.destroy();
    expect(mem.tablePages).toBe(0);
  });

  it('VT-d 5-level reaches 2^57 - 1 and refuses beyond; 4-level refuses wide IOVAs', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const t5 = table(mem, { format: 'vtd-ss', levels: 5 });
    expect(t5.mapWide(2n ** 57n - 0x1000n, 0x1000, 0x1000, RW)).toBe(0);
    expect(t5.iovaToPhysWide(2n ** 57n - 1n)).toBe(0x1fff);
    expect(t5.mapWide(2n ** 57n, 0x1000, 0x1000, RW)).toBe(-ERANGE);
    const t4 = table(mem, { format: 'vtd-ss', levels: 4 });
    expect(t4.mapWide(2n ** 56n, 0x1000, 0x1000, RW)).toBe(-ERANGE);
    t5.destroy();
    t4.destroy();
  });

  it('x86-64 with sign extension maps the canonical upper half only', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const t = table(mem, { format: 'x86-64', levels: 4, signExtend: true });
    const upper = 0xffff800000000000n;
    expect(t.mapWide(upper + 0x3000n, 0x7000, 0x1000, RW)).toBe(0);
    expect(t.iovaToPhysWide(upper + 0x3008n)).toBe(0x7008);
    expect(t.iovaToPhys(0x3000)).toBe(0); // the lower half is separate
    // pt_check_range takes the prefix from "any bit at or above the sign bit" and compares the bits
    // above the VA width only: 0xffff7000... passes (it lands in the lower half's slots), 0x00008000... does not.
    expect(t.mapWide(0xffff700000000000n, 0x7000, 0x1000, RW)).toBe(0);
    expect(t.iovaToPhys(0x700000000000)).toBe(0x7000);
    expect(t.mapWide(0x0000800000000000n, 0x7000, 0x1000, RW)).toBe(-ERANGE);
    t.destroy();
  });
});

describe('geometry', () => {
  it('Arm stage 2 concatenates the root: 6.12 whenever the top would have <= 16 entries, 7.3 only where Arm mandates it', () => {
    // 7.3 arm_lpae_concat_mandatory: 4K granule at level 0 only for a 40- or 42-bit output; 16K for 48 bits.
    expect(geom({ format: 'arm-s2', granule: 4096, ias: 40, oas: 48 }).entries.at(-1)).toBe(2);
    expect(geom({ format: 'arm-s2', granule: 4096, ias: 40, oas: 40 }).entries.at(-1)).toBe(1024);
    expect(geom({ format: 'arm-s2', granule: 16384, ias: 48 }).entries.at(-1)).toBe(4096);
    const g40 = geom({ format: 'arm-s2', granule: 4096, ias: 40, profile: '6.12' });
    expect(g40.topLevel).toBe(2);
    expect(g40.entries[2]).toBe(1024); // 2 concatenated 4 KiB tables
    expect(g40.tableBytes[2]).toBe(8192);
    const g44 = geom({ format: 'arm-s2', granule: 4096, ias: 44, profile: '6.12' });
    expect(g44.topLevel).toBe(3); // 32 top entries: no concatenation
    expect(g44.entries[3]).toBe(32);
    const s1 = geom({ format: 'arm-s1', granule: 4096, ias: 40 });
    expect(s1.topLevel).toBe(3); // stage 1 never concatenates
    const g16 = geom({ format: 'arm-s2', granule: 16384, ias: 48, profile: '6.12' });
    expect([g16.topLevel, g16.entries[g16.topLevel]]).toEqual([2, 4096]);
    const g64 = geom({ format: 'arm-s1', granule: 65536, ias: 48 });
    expect([g64.topLevel, g64.entries[2], g64.pgsizes]).toEqual([2, 64, [16, 29]]);
  });

  it('AMD v1 page sizes are every power of two from 4K to 2^51 except 512G; the mock starts at 2K', () => {
    const a = geom({ format: 'amd-v1' });
    const want: number[] = [];
    for (let l = 12; l <= 51; l++) if (l !== 39) want.push(l);
    expect(a.pgsizes).toEqual(want);
    const m = geom({ format: 'mock-amdv1' });
    expect([m.pgsizes[0], m.vaBits, m.oaBits]).toEqual([11, 38, 51]);
    expect(geom({ format: 'mock-amdv1', mockVariant: 'huge' }).pgsizes).toEqual([12, 20]);
  });

  it('restrictPgsizes narrows the bitmap and map follows it', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const t = table(mem, { format: 'vtd-ss', restrictPgsizes: [4096] });
    expect(t.g.pgsizes).toEqual([12]);
    expect(t.map(0x40000000, 0x40000000, 0x200000, RW)).toBe(0);
    expect(t.countLeaves()).toBe(512);
    t.destroy();
    expect(makeGeometry({ format: 'vtd-ss', restrictPgsizes: [8192] })).toBe('restrictPgsizes');
    expect(makeGeometry({ format: 'vtd-ss', levels: 6 })).toBe('levels');
  });
});

describe('coherency and write-forcing features', () => {
  it('VT-d SNP appears on maps after enforceCacheCoherency; AMD v1 has FC from the start', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const v = table(mem, { format: 'vtd-ss' });
    expect(v.map(0x1000, 0x1000, 0x1000, RW)).toBe(0);
    expect(v.enforceCacheCoherency()).toBe(true);
    expect(v.map(0x2000, 0x2000, 0x1000, RW)).toBe(0);
    expect((mem.u32[v.findLeaf(0x1000)]! & 0x800) !== 0).toBe(false);
    expect((mem.u32[v.findLeaf(0x2000)]! & 0x800) !== 0).toBe(true);
    const a = table(mem, { format: 'amd-v1' });
    expect(a.map(0x1000, 0x1000, 0x1000, RW)).toBe(0);
    expect((mem.u32[a.findLeaf(0x1000) + 1]! & 0x10000000) !== 0).toBe(true);
    expect(table(mem, { format: 'arm-s1' }).enforceCacheCoherency()).toBe(false);
  });

  it('FORCE_WRITEABLE refuses read-only maps with -EINVAL', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const v = table(mem, { format: 'vtd-ss', forceWriteable: true });
    expect(v.map(0x1000, 0x1000, 0x1000, IOMMU_READ)).toBe(-22);
    expect(v.map(0x1000, 0x1000, 0x1000, RW)).toBe(0);
  });
});
