/**
 * Random MAP / UNMAP / COPY / domain add-remove sequences on two IOASes,
 * checked after every step against the io_pagetable invariants (uapi digest
 * §7 I2, I4-I6): areas disjoint and aligned, outside reserved ranges; every
 * domain maps exactly the areas onto the frames behind their user addresses;
 * each page is pinned once per iopt_pages that needs it; UNMAP returns the
 * bytes of exactly the areas inside the range; close leaves nothing pinned.
 */
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { check } from '../../spec/clauses/check.ts';
import type { IommufdIoas } from './iommufd_private.ts';
import { ioptTableAddDomain, ioptTableRemoveDomain } from './io_pagetable.ts';
import type { IoPagetable } from './iommufd_private.ts';
import { buffer, FakeDomain, ioasAlloc, ioctl, map, MAP_R, MAP_W, NR, P, U64_MAX, unmap, withEnv, type Env } from '../testing/testutil.ts';
import { ENOENT } from '../lib/errno.ts';

const BASE = 0x100000n;
/** Steps where some IOAS had both a domain and areas (the property must reach them). */
let filledSteps = 0;

function iopt(env: Env, id: number): IoPagetable {
  return (env.ctx.objects.load(id) as IommufdIoas).iopt;
}

function checkInvariants(env: Env, domains: Map<number, FakeDomain[]>): void {
  const pinsExpected = new Map<number, Set<unknown>>(); // pfn -> the iopt_pages that hold it
  for (const id of [1, 2]) {
    const t = iopt(env, id);
    const areas = t.areas;
    for (let i = 0; i < areas.length; i++) {
      const a = areas[i]!;
      expect(a.pages).not.toBeNull();
      expect(a.start % BigInt(t.iovaAlignment)).toBe(0n);
      if (i > 0) expect(areas[i - 1]!.last < a.start).toBe(true);
      for (const r of t.reserved) expect(r.last < a.start || r.start > a.last).toBe(true);
    }
    // Every domain maps exactly the areas, page by page, onto the frames behind the user VA.
    const want = new Map<bigint, number>();
    for (const a of areas) {
      for (let off = 0n; off < a.length; off += P) {
        const index = Number((a.startByte + off) / P);
        const pfn = a.pages!.pinnedPfn(index);
        if (t.domains.length) {
          expect(pfn).toBeDefined();
          expect(pfn).toBe(env.proc.translateVa(a.pages!.uptr + BigInt(index) * P)!.pfn);
          want.set(a.start + off, pfn! * 4096);
          const holders = pinsExpected.get(pfn!) ?? new Set();
          holders.add(a.pages);
          pinsExpected.set(pfn!, holders);
        }
      }
    }
    for (const d of domains.get(id)!) {
      expect(new Map([...d.map4k].map(([k, v]) => [k, v.pa]))).toEqual(want);
    }
  }
  let total = 0;
  for (const [pfn, holders] of pinsExpected) {
    expect(env.proc.pinCountOfPfn(pfn)).toBe(holders.size);
    total += holders.size;
  }
  expect(env.proc.totalPins).toBe(total);
  expect(env.proc.pinnedVm).toBe(total);
}

// ---- the commands (fc.commands + fc.modelRun: a failing sequence shrinks) ----

/** The model: the FakeDomains each IOAS holds (what iopt_table_add_domain accepted). */
interface Model {
  readonly domains: Map<number, FakeDomain[]>;
}
interface Real {
  readonly env: Env;
  readonly buf: bigint;
}
type IoptCommand = fc.Command<Model, Real>;

/** After every command: the invariants, and whether a filled state was reached. */
function after(m: Model, r: Real): void {
  checkInvariants(r.env, m.domains);
  if ([1, 2].some((id) => iopt(r.env, id).domains.length && iopt(r.env, id).areas.length)) filledSteps++;
}

class MapCmd implements IoptCommand {
  constructor(
    readonly ioas: number,
    readonly page: number,
    readonly npages: number,
    readonly fixed: number | null,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const iova = this.fixed === null ? undefined : BASE + BigInt(this.fixed) * P;
    const before = iopt(r.env, this.ioas).areas.length;
    const res = map(r.env, this.ioas, r.buf + BigInt(this.page) * P, BigInt(Math.min(this.npages, 16 - this.page)) * P, iova);
    // A MAP adds exactly one area or nothing.
    expect(iopt(r.env, this.ioas).areas.length).toBe(before + (res.errno ? 0 : 1));
    after(m, r);
  }
  toString = (): string => `map(ioas ${this.ioas}, page ${this.page}, ${this.npages} pages, ${this.fixed === null ? 'auto' : `fixed ${this.fixed}`})`;
}

class UnmapCmd implements IoptCommand {
  constructor(
    readonly ioas: number,
    readonly start: number,
    readonly npages: number,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const start = BASE + BigInt(this.start) * P;
    const last = start + BigInt(this.npages) * P - 1n;
    const areas = iopt(r.env, this.ioas).areas;
    const inside = areas.filter((a) => a.start >= start && a.last <= last);
    const crossing = areas.some((a) => a.start <= last && a.last >= start && (a.start < start || a.last > last));
    const res = unmap(r.env, this.ioas, start, BigInt(this.npages) * P);
    // iopt_unmap_iova_range: every area inside goes, a crossing one is ENOENT (never split), nothing is ENOENT.
    if (!crossing && inside.length) expect(res).toEqual({ errno: 0, length: inside.reduce((sum, a) => sum + a.length, 0n) });
    else expect(res.errno).toBe(ENOENT);
    after(m, r);
  }
  toString = (): string => `unmap(ioas ${this.ioas}, page ${this.start}, ${this.npages} pages)`;
}

class UnmapAllCmd implements IoptCommand {
  constructor(readonly ioas: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    expect(unmap(r.env, this.ioas, 0n, U64_MAX).errno).toBe(0);
    expect(iopt(r.env, this.ioas).areas).toEqual([]);
    after(m, r);
  }
  toString = (): string => `unmapAll(ioas ${this.ioas})`;
}

class CopyCmd implements IoptCommand {
  constructor(
    readonly src: number,
    readonly dst: number,
    readonly start: number,
    readonly npages: number,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    ioctl(r.env, NR.IOMMU_IOAS_COPY, { flags: MAP_R | MAP_W, src_ioas_id: this.src, dst_ioas_id: this.dst, length: BigInt(this.npages) * P, src_iova: BASE + BigInt(this.start) * P });
    after(m, r);
  }
  toString = (): string => `copy(ioas ${this.src} page ${this.start} → ioas ${this.dst}, ${this.npages} pages)`;
}

class AddDomainCmd implements IoptCommand {
  constructor(readonly ioas: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const d = new FakeDomain();
    if (ioptTableAddDomain(iopt(r.env, this.ioas), d) === 0) m.domains.get(this.ioas)!.push(d);
    after(m, r);
  }
  toString = (): string => `addDomain(ioas ${this.ioas})`;
}

class RemoveDomainCmd implements IoptCommand {
  constructor(readonly ioas: number) {}
  check = (m: Readonly<Model>): boolean => m.domains.get(this.ioas)!.length > 0;
  run(m: Model, r: Real): void {
    ioptTableRemoveDomain(iopt(r.env, this.ioas), m.domains.get(this.ioas)!.pop()!);
    after(m, r);
  }
  toString = (): string => `removeDomain(ioas ${this.ioas})`;
}

const ioasArb = fc.constantFrom(1, 2);
const commandsArb = fc.commands<Model, Real>(
  [
    fc.tuple(ioasArb, fc.integer({ min: 0, max: 15 }), fc.integer({ min: 1, max: 4 }), fc.option(fc.integer({ min: 0, max: 31 }))).map(([i, p, n, f]) => new MapCmd(i, p, n, f)),
    fc.tuple(ioasArb, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 12 })).map(([i, s, n]) => new UnmapCmd(i, s, n)),
    ioasArb.map((i) => new UnmapAllCmd(i)),
    fc.tuple(ioasArb, ioasArb, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 4 })).map(([a, b, s, n]) => new CopyCmd(a, b, s, n)),
    ioasArb.map((i) => new AddDomainCmd(i)),
    ioasArb.map((i) => new RemoveDomainCmd(i)),
  ],
  { maxCommands: 30 },
);

describe('io_pagetable invariants under random sequences', () => {
  check('ref.iopt.random-sequences-keep-invariants', () => {
    fc.assert(
      fc.property(commandsArb, (cmds) =>
        withEnv((env) => {
          ioasAlloc(env);
          ioasAlloc(env);
          const real: Real = { env, buf: buffer(env, 16 * 4096) };
          fc.modelRun(() => ({ model: { domains: new Map([[1, []], [2, []]]) }, real }), cmds);
          // Closing the file destroys both IOASes: nothing stays pinned or charged.
          env.proc.fds.close(env.fd);
          expect(env.proc.totalPins).toBe(0);
          expect(env.proc.pinnedVm).toBe(0);
          expect(env.proc.user.lockedVm).toBe(0);
        }),
      ),
    );
    // The sequences must reach IOASes that have both domains and areas.
    expect(filledSteps).toBeGreaterThan(0);
  });
});
