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
import { buffer, FakeDomain, ioasAlloc, ioctl, map, NR, newEnv, P, U64_MAX, unmap, type Env } from '../testing/testutil.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

type Cmd =
  | { k: 'map'; ioas: number; page: number; npages: number; fixed: number | null }
  | { k: 'unmap'; ioas: number; start: number; npages: number }
  | { k: 'unmapAll'; ioas: number }
  | { k: 'copy'; src: number; dst: number; start: number; npages: number }
  | { k: 'addDomain'; ioas: number }
  | { k: 'removeDomain'; ioas: number };

const ioasArb = fc.constantFrom(1, 2);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ k: fc.constant('map' as const), ioas: ioasArb, page: fc.integer({ min: 0, max: 15 }), npages: fc.integer({ min: 1, max: 4 }), fixed: fc.option(fc.integer({ min: 0, max: 31 })) }),
  fc.record({ k: fc.constant('unmap' as const), ioas: ioasArb, start: fc.integer({ min: 0, max: 40 }), npages: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ k: fc.constant('unmapAll' as const), ioas: ioasArb }),
  fc.record({ k: fc.constant('copy' as const), src: ioasArb, dst: ioasArb, start: fc.integer({ min: 0, max: 40 }), npages: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ k: fc.constant('addDomain' as const), ioas: ioasArb }),
  fc.record({ k: fc.constant('removeDomain' as const), ioas: ioasArb }),
);

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

function run(cmds: Cmd[]): void {
  const env = newEnv();
  ioasAlloc(env);
  ioasAlloc(env);
  const buf = buffer(env, 16 * 4096);
  const domains = new Map<number, FakeDomain[]>([
    [1, []],
    [2, []],
  ]);
  for (const c of cmds) {
    switch (c.k) {
      case 'map': {
        const iova = c.fixed === null ? undefined : BASE + BigInt(c.fixed) * P;
        const before = iopt(env, c.ioas).areas.length;
        const r = map(env, c.ioas, buf + BigInt(c.page) * P, BigInt(Math.min(c.npages, 16 - c.page)) * P, iova);
        expect(iopt(env, c.ioas).areas.length).toBe(before + (r.errno ? 0 : 1));
        break;
      }
      case 'unmap': {
        const start = BASE + BigInt(c.start) * P;
        const last = start + BigInt(c.npages) * P - 1n;
        const inside = iopt(env, c.ioas).areas.filter((a) => a.start >= start && a.last <= last);
        const crossing = iopt(env, c.ioas).areas.some((a) => a.start <= last && a.last >= start && (a.start < start || a.last > last));
        const r = unmap(env, c.ioas, start, BigInt(c.npages) * P);
        if (!crossing && inside.length) expect(r).toEqual({ errno: 0, length: inside.reduce((s, a) => s + a.length, 0n) });
        else expect(r.errno).toBe(ERRNO.ENOENT);
        break;
      }
      case 'unmapAll':
        expect(unmap(env, c.ioas, 0n, U64_MAX).errno).toBe(0);
        expect(iopt(env, c.ioas).areas).toEqual([]);
        break;
      case 'copy':
        ioctl(env, NR.IOMMU_IOAS_COPY, { flags: 6, src_ioas_id: c.src, dst_ioas_id: c.dst, length: BigInt(c.npages) * P, src_iova: BASE + BigInt(c.start) * P });
        break;
      case 'addDomain': {
        const d = new FakeDomain();
        if (ioptTableAddDomain(iopt(env, c.ioas), d) === 0) domains.get(c.ioas)!.push(d);
        break;
      }
      case 'removeDomain': {
        const d = domains.get(c.ioas)!.pop();
        if (d) ioptTableRemoveDomain(iopt(env, c.ioas), d);
        break;
      }
    }
    checkInvariants(env, domains);
    if ([1, 2].some((id) => iopt(env, id).domains.length && iopt(env, id).areas.length)) filledSteps++;
  }
  env.proc.fds.close(env.fd);
  expect(env.proc.totalPins).toBe(0);
  expect(env.proc.pinnedVm).toBe(0);
  expect(env.proc.user.lockedVm).toBe(0);
}

describe('io_pagetable invariants under random sequences', () => {
  check('ref.iopt.random-sequences-keep-invariants', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 30 }), (cmds) => run(cmds)),
      { seed: 20261122, numRuns: 150 },
    );
    expect(filledSteps).toBeGreaterThan(100);
  });
});
