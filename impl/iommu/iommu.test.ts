import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMemory, KIND_DATA } from '../lib/physmem.ts';
import { IommuInstance, type Domain, type Vendor } from './instance.ts';
import { ACC_READ, ACC_WRITE, FAULT_PERMISSION, FAULT_TRANSLATION, walkTableFrom } from './walker.ts';
import { EOPNOTSUPP } from '../lib/errno.ts';
import { IOMMU_READ, IOMMU_WRITE, makeGeometry, type FormatConfig } from '../pagetable/format.ts';
import { IotlbGather } from '../pagetable/gather.ts';

const BIG = process.env.IOMMUFD_SPEC_BUDGET === 'large';
/** Pinned seeds; IOMMUFD_SPEC_SEED overrides them for exploratory runs. */
const SEED = process.env.IOMMUFD_SPEC_SEED === undefined ? null : Number(process.env.IOMMUFD_SPEC_SEED);
const RW = IOMMU_READ | IOMMU_WRITE;

function setup(vendor: Vendor, cfg: FormatConfig, opts: { iotlbEntries?: number; rangeInv?: boolean } = {}): { mem: PhysMemory; inst: IommuInstance; d: Domain } {
  const mem = new PhysMemory({ size: 32 << 20 });
  const inst = new IommuInstance({ mem, vendor, logCommands: true, ...opts });
  const d = inst.createDomain(cfg);
  if (typeof d === 'number') throw new Error(`createDomain ${d}`);
  return { mem, inst, d };
}

const CASES: [Vendor, FormatConfig][] = [
  ['vtd', { format: 'vtd-ss', dirty: true }],
  ['vtd', { format: 'x86-64' }],
  ['amd', { format: 'amd-v1', dirty: true }],
  ['smmuv3', { format: 'arm-s1', granule: 4096, dirty: true }],
  ['smmuv3', { format: 'arm-s2', granule: 16384, ias: 40 }],
  ['smmuv3', { format: 'arm-s1', granule: 65536 }],
];

describe('DMA through the simulated IOMMU', () => {
  it('data written by a device lands in the user page that iova_to_phys names', () => {
    const { mem, inst, d } = setup('vtd', { format: 'vtd-ss' });
    const page = mem.allocData(1);
    expect(mem.allocated[KIND_DATA]).toBe(1);
    expect(d.map(0x100000, page, 4096, RW)).toBe(0);
    inst.attach(7, d);
    expect(inst.dmaWrite(7, 0x100010, new Uint8Array([1, 2, 3]))).toBe(0);
    expect(Array.from(mem.u8.subarray(page + 0x10, page + 0x13))).toEqual([1, 2, 3]);
    const r = inst.dmaRead(7, 0x100010, 3);
    expect(r).toEqual(new Uint8Array([1, 2, 3]));
    expect(inst.dmaRead(7, 0x200000, 1)).toBe(-FAULT_TRANSLATION);
    expect(inst.faults.length).toBe(1);
  });

  for (const [vendor, cfg] of CASES) {
    it(`an access succeeds iff iova_to_phys says so, same PA and permission: ${vendor} ${JSON.stringify(cfg)}`, () => {
      const { inst, d } = setup(vendor, cfg);
      const gran = 2 ** (makeGeometry(cfg) as { granLg2: number }).granLg2;
      inst.attach(1, d);
      const op = fc.record({
        kind: fc.constantFrom('map', 'unmap', 'dma'),
        page: fc.integer({ min: 0, max: 63 }),
        pages: fc.integer({ min: 1, max: 8 }),
        prot: fc.constantFrom(IOMMU_READ, IOMMU_WRITE, RW),
        write: fc.boolean(),
      });
      const base = 2 ** 32;
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
          // Areas as iommufd keeps them: unmaps always cover whole areas.
          const areas: { page: number; n: number; prot: number }[] = [];
          const areaOf = (p: number) => areas.find((a) => a.page <= p && p < a.page + a.n);
          for (const o of ops) {
            const va = base + o.page * gran;
            if (o.kind === 'map') {
              const n = Math.min(o.pages, 64 - o.page);
              const rc = d.map(va, 2 ** 33 + o.page * gran, n * gran, o.prot);
              const overlap = areas.some((a) => a.page < o.page + n && o.page < a.page + a.n);
              expect(rc === 0).toBe(!overlap);
              if (rc === 0) areas.push({ page: o.page, n, prot: o.prot });
            } else if (o.kind === 'unmap') {
              const a = areaOf(o.page);
              if (a !== undefined) {
                expect(d.unmap(base + a.page * gran, a.n * gran)).toBe(a.n * gran);
                areas.splice(areas.indexOf(a), 1);
              }
            }
            // After every operation (and its flush) the caches match memory.
            expect(inst.checkCaches()).toEqual([]);
            const access = o.write ? ACC_WRITE : ACC_READ;
            const iova = va + 24;
            const phys = d.iovaToPhys(iova);
            const pa = inst.translate(1, iova, access);
            const a = areaOf(o.page);
            expect(phys !== 0).toBe(a !== undefined);
            if (a === undefined) {
              expect(pa).toBe(-FAULT_TRANSLATION);
            } else {
              // Arm stage 1 and x86 have no separate read permission: a write-only map is readable.
              const readable = a.prot & IOMMU_READ || cfg.format === 'arm-s1' || cfg.format === 'x86-64';
              const ok = o.write ? (a.prot & IOMMU_WRITE) !== 0 : !!readable;
              expect(pa).toBe(ok ? phys : -FAULT_PERMISSION);
            }
          }
          for (const a of areas) expect(d.unmap(base + a.page * gran, a.n * gran)).toBe(a.n * gran);
          expect(d.pt!.countLeaves()).toBe(0);
          expect(inst.checkCaches()).toEqual([]);
        }),
        { seed: SEED ?? 3, numRuns: BIG ? 200 : 15 },
      );
    });
  }
});

describe('IOTLB keeps stale entries until the invalidation command', () => {
  it('unmap without sync: the device still reaches the old page; the checker flags it; sync fixes it', () => {
    const { inst, d } = setup('vtd', { format: 'vtd-ss' });
    expect(d.map(0x40000, 0x800000, 4096, RW)).toBe(0);
    inst.attach(1, d);
    expect(inst.translate(1, 0x40000, ACC_READ)).toBe(0x800000);
    const g = new IotlbGather();
    const pt = d.pt!;
    expect(pt.unmapNoSync(0x40000, 4096, g)).toBe(4096);
    expect(d.iovaToPhys(0x40000)).toBe(0);
    expect(inst.translate(1, 0x40000, ACC_READ)).toBe(0x800000); // stale hit
    expect(inst.checkCaches().length).toBe(1);
    pt.sync(g);
    expect(inst.checkCaches()).toEqual([]);
    expect(inst.translate(1, 0x40000, ACC_READ)).toBe(-FAULT_TRANSLATION);
    expect(inst.cmdLog.at(-1)).toEqual({ op: 'vtd-psi', did: d.tag, addr: 0x40000, am: 0, ih: 1 });
  });

  it('a too-narrow invalidation leaves the rest stale', () => {
    const { inst, d } = setup('vtd', { format: 'vtd-ss' });
    expect(d.map(0x40000, 0x800000, 0x4000, RW)).toBe(0);
    inst.attach(1, d);
    for (let i = 0; i < 4; i++) inst.translate(1, 0x40000 + i * 4096, ACC_READ);
    const g = new IotlbGather();
    d.pt!.unmapNoSync(0x40000, 0x4000, g);
    inst.vtdPsi(d.tag, 0x40000, 0, 1); // one page only
    expect(inst.checkCaches().length).toBe(3);
    inst.intelFlushRange(d.tag, g.start, g.end, 1);
    expect(inst.checkCaches()).toEqual([]);
  });

  it('VT-d PSI address mask covers unaligned ranges like calculate_psi_aligned_address', () => {
    const { inst } = setup('vtd', { format: 'vtd-ss' });
    inst.intelFlushRange(5, 0x3000, 0x4fff, 0);
    expect(inst.cmdLog.at(-1)).toEqual({ op: 'vtd-psi', did: 5, addr: 0, am: 3, ih: 0 });
    inst.intelFlushRange(5, 0x200000, 0x3fffff, 1);
    expect(inst.cmdLog.at(-1)).toEqual({ op: 'vtd-psi', did: 5, addr: 0x200000, am: 9, ih: 1 });
  });

  it('AMD INVALIDATE_IOMMU_PAGES encodes the size in the address (build_inv_address)', () => {
    const { inst } = setup('amd', { format: 'amd-v1' });
    inst.amdFlushRange(3, 0x10000, 0x10000);
    expect(inst.cmdLog.at(-1)).toEqual({ op: 'amd-inv-pages', domid: 3, addr: 0x17000, s: 1, pde: 1, all: false });
    inst.amdFlushRange(3, 0x5000, 0x1000);
    expect(inst.cmdLog.at(-1)).toEqual({ op: 'amd-inv-pages', domid: 3, addr: 0x5000, s: 0, pde: 1, all: false });
  });

  it('SMMUv3 range TLBI covers the range; without RIL one command per leaf granule', () => {
    const a = setup('smmuv3', { format: 'arm-s1' });
    expect(a.d.map(0x200000, 0x400000, 0x200000, RW)).toBe(0);
    a.inst.attach(1, a.d);
    a.inst.translate(1, 0x200000 + 0x1000, ACC_READ);
    expect(a.d.unmap(0x200000, 0x200000)).toBe(0x200000);
    const cmd = a.inst.cmdLog.at(-1)!;
    expect(cmd.op).toBe('smmu-tlbi-va');
    expect(a.inst.checkCaches()).toEqual([]);
    const b = setup('smmuv3', { format: 'arm-s1' }, { rangeInv: false });
    expect(b.d.map(0x200000, 0x400000, 0x4000, RW)).toBe(0);
    b.inst.attach(1, b.d);
    expect(b.d.unmap(0x200000, 0x4000)).toBe(0x4000);
    expect(b.inst.cmdLog.filter((c) => c.op === 'smmu-tlbi-va').length).toBe(4);
  });

  it('a freed table stays reachable through a stale walk-cache entry until a non-leaf invalidation', () => {
    const { inst, d } = setup('vtd', { format: 'vtd-ss' });
    // 2 MiB of 4K leaves (OA offset by one page rules out a 2M leaf): one full leaf table.
    expect(d.map(0x200000, 0x801000, 0x200000, RW)).toBe(0);
    inst.attach(1, d);
    expect(inst.translate(1, 0x200000, ACC_READ)).toBe(0x801000);
    const g = new IotlbGather();
    // Unmap that stops at a hole frees nothing.
    expect(d.pt!.unmapNoSync(0x3ff000, 0x2000, g)).toBe(0x1000);
    expect(g.freelist.length).toBe(0);
    d.pt!.sync(g);
    // Covering unmap frees the leaf table through the gather.
    expect(d.pt!.unmapNoSync(0x200000, 0x1ff000, g)).toBe(0x1ff000);
    expect(d.pt!.unmapNoSync(0x200000, 0x200000, g)).toBe(0);
    expect(d.map(0x200000, 0x801000, 0x1ff000, RW)).toBe(0);
    inst.translate(1, 0x200000, ACC_READ);
    const g2 = new IotlbGather();
    expect(d.pt!.unmapNoSync(0x200000, 0x1ff000, g2)).toBe(0x1ff000);
    expect(g2.freelist.length).toBe(0); // not fully covered: the table stays
    d.pt!.sync(g2);
    expect(d.map(0x200000, 0x801000, 0x200000, RW)).toBe(0);
    inst.translate(1, 0x200000, ACC_READ);
    expect(d.pt!.unmapNoSync(0x200000, 0x200000, g2)).toBe(0x200000);
    expect(g2.freelist.length).toBe(2); // (pa, order) of the freed leaf table
    // Leaf-only invalidation (IH=1) although a table is on the free list: the walk cache stays stale.
    inst.vtdPsi(d.tag, 0x200000, 9, 1);
    expect(inst.checkCaches().some((m) => m.includes('walk-cache'))).toBe(true);
    d.pt!.sync(g2); // IH=0 because the free list is not empty
    expect(inst.checkCaches()).toEqual([]);
    expect(inst.cmdLog.at(-1)).toEqual({ op: 'vtd-psi', did: d.tag, addr: 0x200000, am: 9, ih: 0 });
  });
});

describe('accessed/dirty bits set by the walker', () => {
  it('VT-d SS sets D only with SSADE (dirty tracking enabled); read_and_clear reports and cleans it', () => {
    const { inst, d } = setup('vtd', { format: 'vtd-ss', dirty: true });
    expect(d.map(0x10000, 0x900000, 0x2000, RW)).toBe(0);
    inst.attach(1, d);
    inst.translate(1, 0x10000, ACC_WRITE);
    const rec: number[] = [];
    d.readAndClearDirty(0x10000, 0x2000, 0, { record: (a) => rec.push(a) });
    expect(rec).toEqual([]);
    expect(d.setDirtyTracking(true)).toBe(0);
    inst.translate(1, 0x11000, ACC_WRITE);
    d.readAndClearDirty(0x10000, 0x2000, 0, { record: (a) => rec.push(a) });
    expect(rec).toEqual([0x11000]);
    // After the clear + flush, a new write must re-walk and dirty again.
    inst.translate(1, 0x11000, ACC_WRITE);
    d.readAndClearDirty(0x10000, 0x2000, 0, { record: (a) => rec.push(a) });
    expect(rec).toEqual([0x11000, 0x11000]);
  });

  it('Arm S1 DBM: write to a writable-clean leaf clears AP[2]', () => {
    const { inst, d } = setup('smmuv3', { format: 'arm-s1', dirty: true });
    expect(d.map(0x10000, 0x900000, 0x1000, RW)).toBe(0);
    const rec: number[] = [];
    d.readAndClearDirty(0x10000, 0x1000, 0, { record: (a) => rec.push(a) });
    expect(rec).toEqual([0x10000]); // created writable-dirty
    inst.attach(1, d);
    expect(inst.translate(1, 0x10000, ACC_READ)).toBe(0x900000);
    d.readAndClearDirty(0x10000, 0x1000, 0, { record: (a) => rec.push(a) });
    expect(rec.length).toBe(1);
    expect(inst.translate(1, 0x10000, ACC_WRITE)).toBe(0x900000);
    d.readAndClearDirty(0x10000, 0x1000, 0, { record: (a) => rec.push(a) });
    expect(rec.length).toBe(2);
  });

  it('dirty tracking needs a dirty-capable domain', () => {
    const { d } = setup('amd', { format: 'amd-v1' });
    expect(d.setDirtyTracking(true)).toBe(-EOPNOTSUPP);
  });
});

describe('non-coherent walk', () => {
  it('the walker sees PTE writes only after the flush the table code issues', () => {
    const { mem, inst, d } = setup('smmuv3', { format: 'arm-s1', nonCoherentWalk: true });
    inst.attach(1, d);
    expect(d.map(0x10000, 0x900000, 0x1000, RW)).toBe(0);
    expect(inst.translate(1, 0x10000, ACC_READ)).toBe(0x900000);
    // A PTE write the code "forgot" to flush is invisible to the device.
    const w = d.pt!.findLeaf(0x10000);
    mem.u32[w] = ((mem.u32[w] as number) & 0xfff) | 0xa00000;
    inst.smmuTlbiTag(1, d.tag);
    expect(inst.translate(1, 0x10000, ACC_READ)).toBe(0x900000);
    mem.syncForDevice(w * 4, 8);
    inst.smmuTlbiTag(1, d.tag);
    expect(inst.translate(1, 0x10000, ACC_READ)).toBe(0xa00000);
  });
});

describe('two-stage walk', () => {
  it('stage-1 table pointers and outputs are translated through stage 2', () => {
    const mem = new PhysMemory({ size: 32 << 20 });
    const inst = new IommuInstance({ mem, vendor: 'smmuv3' });
    const BIAS = 2 ** 34; // guest-physical = PA + BIAS for every stage-1 table page
    const s2 = inst.createDomain({ format: 'arm-s2', ias: 40 }) as Domain;
    const s1 = inst.createDomain({ format: 'arm-s1', ias: 48, tablePtrBias: BIAS }) as Domain;
    // The guest maps IOVA 0x5000 -> IPA 0x40000000; stage 2 maps IPA 0x40000000 -> a data page.
    expect(s1.map(0x5000, 0x40000000, 0x1000, RW)).toBe(0);
    const data = mem.allocData(1);
    expect(s2.map(0x40000000, data, 0x1000, RW)).toBe(0);
    // Stage 2 must also map every stage-1 table page at its IPA (PA + BIAS); use 2M of RAM identity+bias.
    expect(s2.map(BIAS, 0, 32 << 20, RW)).toBe(0);
    const pt1 = s1.pt!;
    const s1hw = walkTableFrom(pt1.g, pt1.rootHw, pt1.topLevel, false);
    const tag = inst.attachNested(9, s1hw, s2);
    expect(tag).toBeGreaterThan(0);
    expect(inst.translate(9, 0x5008, ACC_WRITE)).toBe(data + 8);
    expect(inst.checkCaches()).toEqual([]);
    // The guest unmaps in its stage 1 without invalidating: the combined entry stays (stale).
    const g = new IotlbGather();
    expect(pt1.unmapNoSync(0x5000, 0x1000, g)).toBe(0x1000);
    expect(inst.translate(9, 0x5008, ACC_READ)).toBe(data + 8);
    expect(inst.checkCaches().length).toBe(1);
    inst.invalidateStage1(tag, 0x5000, 0x5fff);
    expect(inst.checkCaches()).toEqual([]);
    expect(inst.translate(9, 0x5008, ACC_READ)).toBeLessThan(0);
    // Re-map; a host stage-2 unmap invalidates every nested translation built on it.
    expect(pt1.map(0x5000, 0x40000000, 0x1000, RW)).toBe(0);
    expect(inst.translate(9, 0x5008, ACC_READ)).toBe(data + 8);
    expect(s2.unmap(0x40000000, 0x1000)).toBe(0x1000);
    expect(inst.checkCaches()).toEqual([]);
    expect(inst.translate(9, 0x5008, ACC_READ)).toBeLessThan(0);
    expect(s2.map(0x40000000, data, 0x1000, RW)).toBe(0);
    // Without the stage-2 mapping of the tables the walk faults in stage 2.
    expect(s2.unmap(BIAS, 32 << 20)).toBe(32 << 20);
    expect(inst.translate(9, 0x5008, ACC_READ)).toBeLessThan(0);
  });
});

describe('6.12 mock domain through the instance', () => {
  it('translates at 2 KiB granularity and reports the mock aperture', () => {
    const mem = new PhysMemory({ size: 8 << 20 });
    const inst = new IommuInstance({ mem, vendor: 'mock' });
    const d = inst.createDomain({ format: 'mock-sparse' }) as Domain;
    expect(d.apertureStart).toBe(1 << 24);
    expect(d.apertureLast).toBe(2 ** 31 - 1);
    const p = mem.allocData(1);
    expect(d.map(1 << 24, p + 2048, 2048, RW)).toBe(0);
    inst.attach(1, d);
    expect(inst.translate(1, (1 << 24) + 5, ACC_READ)).toBe(p + 2048 + 5);
    expect(d.pgsizes).toEqual([2048]);
  });
});

describe('7.3 mock (AMDv1, 2 KiB granule) through the walker and IOTLB', () => {
  it('neighbouring 2 KiB leaves in one 4 KiB key page translate to their own pages', () => {
    const { inst, d } = setup('amd', { format: 'mock-amdv1', dirty: true });
    expect(d.apertureStart).toBe(1 << 24);
    expect(d.map(1 << 24, 0x100000, 2048, RW)).toBe(0);
    expect(d.map((1 << 24) + 2048, 0x300800, 2048, IOMMU_READ)).toBe(0);
    expect(d.map((1 << 24) + 0x100000, 0x400000, 0x100000, RW)).toBe(0); // 1 MiB: one level-1 leaf
    expect(d.pt!.countLeaves()).toBe(3);
    inst.attach(1, d);
    expect(inst.translate(1, (1 << 24) + 5, ACC_READ)).toBe(0x100005);
    expect(inst.translate(1, (1 << 24) + 2048 + 5, ACC_READ)).toBe(0x300805);
    expect(inst.translate(1, (1 << 24) + 2048 + 5, ACC_WRITE)).toBe(-FAULT_PERMISSION);
    expect(inst.translate(1, (1 << 24) + 0x1abcde, ACC_WRITE)).toBe(0x4abcde);
    expect(d.lookupLeaf((1 << 24) + 0x1abcde)).toEqual({ iova: (1 << 24) + 0x100000, size: 0x100000, pa: 0x400000, prot: RW });
    expect(d.unmap(1 << 24, 4096)).toBe(4096);
    expect(inst.checkCaches()).toEqual([]);
    expect(d.mappedBytes).toBe(0x100000);
  });
});

describe('wide IOVAs through the domain', () => {
  it('unmapping above 2^53 issues a domain-selective invalidation', () => {
    const { inst, d } = setup('amd', { format: 'amd-v1' });
    expect(d.mapWide(2n ** 62n, 0x5000, 0x1000, RW)).toBe(0);
    expect(d.iovaToPhysWide(2n ** 62n + 7n)).toBe(0x5007);
    expect(d.apertureLastBig).toBe(2n ** 64n - 1n);
    inst.attach(1, d);
    expect(d.unmapWide(2n ** 62n, 0x1000)).toBe(0x1000);
    expect(inst.cmdLog.at(-1)).toEqual({ op: 'amd-inv-pages', domid: d.tag, addr: 0, s: 1, pde: 1, all: true });
  });
});

describe('freed tables and the walk cache', () => {
  for (const [vendor, cfg] of [
    ['vtd', { format: 'vtd-ss' }],
    ['amd', { format: 'amd-v1' }],
    ['smmuv3', { format: 'arm-s1' }],
    ['smmuv3', { format: 'arm-s2', ias: 40 }],
  ] as [Vendor, FormatConfig][]) {
    it(`a reused table page is not reached through a stale walk-cache entry: ${vendor} ${cfg.format}`, () => {
      const { mem, inst, d } = setup(vendor, cfg);
      inst.attach(1, d);
      const A = 0x40000000;
      const B = 0x80000000;
      // 2 MiB of 4K leaves at A (OA offset forbids a 2M leaf), touched by the device.
      expect(d.map(A, 0x1001000, 0x200000, RW)).toBe(0);
      for (let i = 0; i < 512; i += 64) expect(inst.translate(1, A + i * 4096, ACC_READ)).toBe(0x1001000 + i * 4096);
      const tablesBefore = mem.tablePages;
      expect(d.unmap(A, 0x200000)).toBe(0x200000);
      expect(mem.tablePages).toBe(tablesBefore - 1); // the leaf table was freed after the flush
      // The freed page is reused for B's leaf table, with entries at the same indices.
      expect(d.map(B, 0x2001000, 0x200000, RW)).toBe(0);
      expect(inst.checkCaches()).toEqual([]);
      for (let i = 0; i < 512; i += 64) {
        expect(inst.translate(1, A + i * 4096, ACC_READ)).toBe(-FAULT_TRANSLATION);
        expect(inst.translate(1, B + i * 4096, ACC_READ)).toBe(0x2001000 + i * 4096);
      }
    });
  }
});

describe('a walk that finds no leaf keeps the table entries it read', () => {
  // VT-d paging-structure caches and an SMMU's walk cache hold present non-leaf entries whatever
  // the leaf below held: a device that touched an unmapped IOVA next to a mapped one has the leaf
  // table cached, and a table freed without invalidation stays reachable through it.
  for (const [vendor, cfg] of [
    ['vtd', { format: 'vtd-ss' }],
    ['amd', { format: 'amd-v1' }],
    ['smmuv3', { format: 'arm-s1' }],
  ] as [Vendor, FormatConfig][]) {
    it(`${vendor} ${cfg.format}`, () => {
      const { inst, d } = setup(vendor, cfg);
      inst.attach(1, d);
      const A = 0x40000000;
      expect(d.map(A, 0x1001000, 0x1000, RW)).toBe(0);
      const table = ((d.pt!.findLeaf(A) * 4) & ~0xfff) >>> 0;
      const wc = inst.walkCache!;
      const cached = (): boolean => [...wc.table].some((pa, i) => wc.tag[i] !== -1 && pa === table);
      expect(cached()).toBe(false);
      expect(inst.translate(1, A + 0x1000, ACC_READ)).toBe(-FAULT_TRANSLATION);
      expect(cached()).toBe(true);
      expect(inst.translate(1, A + 0x2000, ACC_READ)).toBe(-FAULT_TRANSLATION);
      expect(inst.translate(1, A, ACC_READ)).toBe(0x1001000);
    });
  }
});

describe('enforce_cache_coherency is the domain’s own feature', () => {
  // Domains of one config share their format's geometry (instance.ts): turning
  // FORCE_COHERENCE on for one table must not reach the others, nor miss its own maps.
  it('VT-d SNP on the enforcing domain’s leaves only, AMD v1 FC on both', () => {
    for (const [vendor, cfg, bit, word] of [['vtd', { format: 'vtd-ss' }, 0x800, 0], ['amd', { format: 'amd-v1', profile: '7.3' }, 0x10000000, 1]] as const) {
      const mem = new PhysMemory({ size: 32 << 20 });
      const inst = new IommuInstance({ mem, vendor });
      const a = inst.createDomain(cfg) as Domain;
      const b = inst.createDomain(cfg) as Domain;
      expect(a.enforceCacheCoherency()).toBe(true);
      const pa = mem.allocPages(0, KIND_DATA);
      expect(a.map(0x1000, pa, 0x1000, RW)).toBe(0);
      expect(b.map(0x1000, pa, 0x1000, RW)).toBe(0);
      const snoop = (d: Domain): boolean => (mem.u32[d.pt!.findLeaf(0x1000) + word]! & bit) !== 0;
      expect(snoop(a)).toBe(true);
      expect(snoop(b)).toBe(vendor === 'amd');
      const c = inst.createDomain(cfg) as Domain;
      expect(c.map(0x1000, pa, 0x1000, RW)).toBe(0);
      expect(snoop(c)).toBe(vendor === 'amd');
    }
  });
});
