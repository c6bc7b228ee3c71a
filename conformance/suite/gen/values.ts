/**
 * Arguments biased toward the interesting: valid ranges picked as an area
 * plus an offset (syzkaller's `$syz` nth_area/offset trick, so most random
 * IOVAs land on something mapped), exact area bounds, page multiples and
 * their off-by-one neighbours, aperture edges from the capability report,
 * the top of the address space, stale and wrong-type ids.
 *
 * These are *choices*, generated before any command runs; `materialise*`
 * turns a choice into a value against the model at run time.
 */
import fc from 'fast-check';
import type { IommuInstanceInfo } from '../../../spec/contract/types.ts';
import { PAGE, U64_MAX, type Range } from '../ranges.ts';
import { type AreaEntry, type GenModel, type ObjEntry, type ObjKind, pick } from './model.ts';
import { Ref, type Tmpl } from '../step.ts';

export const HPAGE = 2n * 1024n * 1024n;

// ---------------------------------------------------------------- lengths

export type LenChoice =
  | { readonly kind: 'pages'; readonly n: number }
  | { readonly kind: 'offByOne'; readonly n: number; readonly plus: boolean }
  | { readonly kind: 'area'; readonly delta: number }
  | { readonly kind: 'huge' }
  | { readonly kind: 'edge'; readonly which: 'zero' | 'max' | 'half' | 'maxPage' };

export const lenChoice: fc.Arbitrary<LenChoice> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('pages' as const), n: fc.oneof(fc.constantFrom(1, 2, 4, 8), fc.integer({ min: 1, max: 16 })) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('area' as const), delta: fc.constantFrom(0, 0, 0, -1, 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('offByOne' as const), n: fc.integer({ min: 1, max: 4 }), plus: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'huge' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('edge' as const), which: fc.constantFrom('zero' as const, 'max' as const, 'half' as const, 'maxPage' as const) }) },
);

export function lengthOf(c: LenChoice, area: AreaEntry | undefined, room: bigint): bigint {
  switch (c.kind) {
    case 'pages':
      return BigInt(c.n) * PAGE;
    case 'offByOne':
      return BigInt(c.n) * PAGE + (c.plus ? 1n : -1n);
    case 'area':
      return area ? area.length + BigInt(c.delta) * PAGE : room > 0n ? room : PAGE;
    case 'huge':
      return HPAGE;
    case 'edge':
      return c.which === 'zero' ? 0n : c.which === 'max' ? U64_MAX : c.which === 'half' ? U64_MAX / 2n : U64_MAX - PAGE + 1n;
  }
}

// ---------------------------------------------------------------- IOVAs

export type IovaChoice =
  | { readonly kind: 'area'; readonly k: number; readonly pageOff: number; readonly byte: number }
  | { readonly kind: 'afterArea'; readonly k: number; readonly gap: number }
  | { readonly kind: 'areaEnd'; readonly k: number; readonly back: 'page' | 'byte' }
  | { readonly kind: 'aperture'; readonly k: number; readonly pages: number; readonly fromEnd: boolean }
  | { readonly kind: 'page'; readonly n: number }
  /** `topEnd`: where a range of the command's length ends on the last byte of the address space. */
  | { readonly kind: 'edge'; readonly which: 'zero' | 'max' | 'topPage' | 'topEnd' | 'p2_31' | 'p2_48' | 'odd' }
  /**
   * Against a range the IOAS reserves (its own, IOMMU_TEST_OP_ADD_RESERVED, or
   * an attached device's region): ending in its first page (a range that
   * starts in free IOVA and runs into it), at its start, or from its last
   * page on (running out of it).
   */
  | { readonly kind: 'reserved'; readonly k: number; readonly at: 'below' | 'start' | 'last' }
  /**
   * Just below a large power-of-two boundary (2 MiB, 1 GiB, 512 GiB), so a
   * range of more than `back` pages crosses it: an invalidation whose size
   * is the aligned block around the range (VT-d's PSI mask, AMD's size code,
   * SMMUv3's range) then spans the boundary's whole block.
   */
  | { readonly kind: 'boundary'; readonly lg2: 21 | 30 | 39; readonly k: number; readonly back: number }
  /** A given IOVA: for the constructors of a layout (never generated). */
  | { readonly kind: 'at'; readonly iova: bigint };

export const iovaChoice: fc.Arbitrary<IovaChoice> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('area' as const), k: fc.nat(15), pageOff: fc.oneof(fc.constant(0), fc.nat(15)), byte: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 2048, 4095) }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('afterArea' as const), k: fc.nat(15), gap: fc.constantFrom(0, 0, 1, 16) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('areaEnd' as const), k: fc.nat(15), back: fc.constantFrom('page' as const, 'page' as const, 'byte' as const) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('aperture' as const), k: fc.nat(7), pages: fc.oneof(fc.constantFrom(0, 1, 16, 512), fc.nat(64)), fromEnd: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('page' as const), n: fc.nat(1 << 20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('edge' as const), which: fc.constantFrom('zero' as const, 'max' as const, 'topPage' as const, 'topEnd' as const, 'topEnd' as const, 'p2_31' as const, 'p2_48' as const, 'odd' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('boundary' as const), lg2: fc.constantFrom(21 as const, 30 as const, 30 as const, 39 as const), k: fc.nat(7), back: fc.constantFrom(1, 1, 2, 16) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reserved' as const), k: fc.nat(7), at: fc.constantFrom('below' as const, 'below' as const, 'start' as const, 'last' as const) }) },
);

/** What bounds the IOVAs of the IOAS a command targets, as far as the generator knows. */
export interface IovaBounds {
  /** The ranges it reserves: its own (IOMMU_TEST_OP_ADD_RESERVED) and its attached devices' regions. */
  readonly reserved: readonly Range[];
  /** The IOMMU units of the devices attached to it: its domains' apertures. */
  readonly units: readonly IommuInstanceInfo[];
}

export const NO_BOUNDS: IovaBounds = { reserved: [], units: [] };

/**
 * The unit whose aperture an 'aperture' or 'boundary' choice aims at: for
 * even k one of the target IOAS's own units, where its maps fit and stop
 * fitting and where a table that grows its top level is reached; for odd k
 * (or an IOAS nothing is attached to) any unit, whose edge is to this IOAS
 * an IOVA like another or one its domains refuse.
 */
function unitOf(m: GenModel, bounds: IovaBounds, k: number): IommuInstanceInfo | undefined {
  return bounds.units.length > 0 && k % 2 === 0 ? pick(bounds.units, k >> 1) : pick(m.caps.iommus, k);
}

/**
 * An IOVA: a Ref to an area's bound IOVA plus an offset where it is
 * area-based, else a literal. `bounds`: what bounds the target IOAS (the
 * 'reserved' choice falls back to an aperture's edge without a reserved range).
 */
export function iovaOf(c: IovaChoice, m: GenModel, areas: readonly AreaEntry[], len: bigint, bounds: IovaBounds = NO_BOUNDS): Tmpl {
  switch (c.kind) {
    case 'reserved': {
      const r = pick(bounds.reserved, c.k);
      if (!r) return apertureIova(unitOf(m, bounds, c.k), 0, true, len);
      const span = len > 0n ? len - (len % PAGE || PAGE) : 0n;
      if (c.at === 'start') return r.start;
      if (c.at === 'last') return r.last + 1n - PAGE;
      return r.start > span ? r.start - span : 0n;
    }
    case 'area': {
      const a = pick(areas, c.k);
      if (!a) return apertureIova(unitOf(m, bounds, c.k), c.pageOff, false, len);
      const off = (BigInt(c.pageOff) * PAGE) % (a.length > 0n ? a.length : PAGE);
      return new Ref(a.name, '', off + BigInt(c.byte));
    }
    case 'afterArea': {
      const a = pick(areas, c.k);
      if (!a) return apertureIova(unitOf(m, bounds, c.k), c.gap, false, len);
      return new Ref(a.name, '', a.length + BigInt(c.gap) * PAGE);
    }
    case 'areaEnd': {
      // An area's last page or last byte: where off-by-one ends of a range (an unmap, an
      // invalidation, a permission check) leave something behind.
      const a = pick(areas, c.k);
      if (!a) return apertureIova(unitOf(m, bounds, c.k), 0, true, len);
      const last = a.length > 0n ? a.length - 1n : 0n;
      return new Ref(a.name, '', c.back === 'byte' ? last : last - (last % PAGE));
    }
    case 'aperture':
      return apertureIova(unitOf(m, bounds, c.k), c.pages, c.fromEnd, len);
    case 'boundary': {
      // The first such boundary above some unit's aperture start, inside the aperture when one is.
      const i = unitOf(m, bounds, c.k);
      const block = 1n << BigInt(c.lg2);
      const start = i ? i.apertureStart : 1n << 24n;
      const at = (start / block + 1n) * block;
      return at - BigInt(c.back) * PAGE;
    }
    case 'page':
      return (1n << 24n) + BigInt(c.n) * PAGE;
    case 'at':
      return c.iova;
    case 'edge':
      switch (c.which) {
        case 'zero':
          return 0n;
        case 'max':
          return U64_MAX;
        case 'topPage':
          return U64_MAX - PAGE + 1n;
        case 'topEnd':
          return len > 0n && len <= U64_MAX ? U64_MAX - len + 1n : U64_MAX - PAGE + 1n;
        case 'p2_31':
          return 1n << 31n;
        case 'p2_48':
          return 1n << 48n;
        case 'odd':
          return (1n << 24n) + 1n;
      }
  }
}

/** Near the start or the end of an IOMMU's aperture (where maps fit, and just where they stop fitting). */
function apertureIova(i: IommuInstanceInfo | undefined, pages: number, fromEnd: boolean, len: bigint): bigint {
  const start = i ? i.apertureStart : 1n << 24n;
  const last = i ? i.apertureLast : (1n << 31n) - 1n;
  const base = start === 0n ? HPAGE : start;
  if (!fromEnd) return base + BigInt(pages) * PAGE;
  const end = last + 1n - (len > 0n && len < last ? len : PAGE) - BigInt(pages) * PAGE;
  return end > 0n ? end - (end % PAGE) : base;
}

// ---------------------------------------------------------------- user memory

export type VaChoice =
  | { readonly kind: 'buf'; readonly k: number; readonly pageOff: number; readonly byte: number }
  | { readonly kind: 'bad'; readonly which: 'zero' | 'noncanonical' | 'low' };

export const vaChoice: fc.Arbitrary<VaChoice> = fc.oneof(
  { weight: 20, arbitrary: fc.record({ kind: fc.constant('buf' as const), k: fc.nat(15), pageOff: fc.oneof(fc.constant(0), fc.nat(15)), byte: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 2048) }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bad' as const), which: fc.constantFrom('zero' as const, 'noncanonical' as const, 'low' as const) }) },
);

/** A user VA: a buffer's bound va plus an offset, or an address no buffer has. */
export function vaOf(c: VaChoice, m: GenModel): { va: Tmpl; buf?: string; off: number; room: bigint } {
  if (c.kind === 'buf') {
    const b = pick(m.bufs, c.k);
    if (b) {
      const pages = Math.max(1, Math.floor(b.length / Number(PAGE)));
      const off = (c.pageOff % pages) * Number(PAGE) + c.byte;
      return { va: new Ref(b.name, 'va', BigInt(off)), buf: b.name, off, room: BigInt(Math.max(b.length - off, 0)) };
    }
  }
  const which = c.kind === 'bad' ? c.which : 'noncanonical';
  // Addresses nothing can map: NULL, a non-canonical x86-64 address, and the first page.
  const va = which === 'zero' ? 0n : which === 'noncanonical' ? 0xdead000000000000n : PAGE;
  return { va, off: 0, room: 16n * PAGE };
}

// ---------------------------------------------------------------- object ids

export type IdChoice =
  | { readonly kind: 'live'; readonly k: number }
  | { readonly kind: 'otherType'; readonly k: number }
  | { readonly kind: 'stale'; readonly k: number }
  | { readonly kind: 'otherCtx'; readonly k: number }
  | { readonly kind: 'absent'; readonly which: 'zero' | 'big' | 'max' };

export const idChoice: fc.Arbitrary<IdChoice> = fc.oneof(
  { weight: 24, arbitrary: fc.record({ kind: fc.constant('live' as const), k: fc.nat(15) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('otherType' as const), k: fc.nat(15) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('stale' as const), k: fc.nat(15) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('otherCtx' as const), k: fc.nat(15) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('absent' as const), which: fc.constantFrom('zero' as const, 'big' as const, 'max' as const) }) },
);

/** An object id of one of `kinds` in context `ctx`: a Ref to its bound id, or an absent literal. */
export function idOf(c: IdChoice, m: GenModel, ctx: string, kinds: readonly ObjKind[]): { id: Tmpl; obj?: ObjEntry } {
  const same = m.objs.filter((o) => o.ctx === ctx);
  const fallback = (): { id: Tmpl; obj?: ObjEntry } => {
    const o = pick(same.filter((x) => x.alive && kinds.includes(x.kind)), c.kind === 'absent' ? 0 : c.k);
    return o ? { id: new Ref(o.name), obj: o } : { id: 0x7fff0000 };
  };
  switch (c.kind) {
    case 'live':
      return fallback();
    case 'otherType': {
      const o = pick(same.filter((x) => x.alive && !kinds.includes(x.kind)), c.k);
      return o ? { id: new Ref(o.name), obj: o } : fallback();
    }
    case 'stale': {
      const o = pick(same.filter((x) => !x.alive), c.k);
      return o ? { id: new Ref(o.name), obj: o } : fallback();
    }
    case 'otherCtx': {
      const o = pick(m.objs.filter((x) => x.ctx !== ctx && x.alive), c.k);
      return o ? { id: new Ref(o.name), obj: o } : fallback();
    }
    case 'absent':
      return { id: c.which === 'zero' ? 0 : c.which === 'big' ? 0x7fff0000 : 0xffffffff };
  }
}

/** Bits of a flags enum: a subset of `known`, each bit independently. */
export function flagsOf(bits: number, known: readonly number[]): number {
  let v = 0;
  known.forEach((b, i) => {
    if (bits & (1 << i)) v |= b;
  });
  return v >>> 0;
}

export const smallBytes = fc.uint8Array({ minLength: 1, maxLength: 64 });
