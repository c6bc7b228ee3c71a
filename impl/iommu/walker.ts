/**
 * The simulated IOMMU's page-table walker. It reads PTEs from the device view
 * of physical memory through the format's entry operations
 * (impl/pagetable/fmt/*.ts: the same decoding the map side uses, plus what
 * the hardware alone does: presence as the hardware sees it, permissions
 * ANDed down the walk, accessed/dirty updates), e.g.
 *   VT-d SS: an entry is present if R or W is set; A (bit 8) on every level and
 *            D (bit 9) on write, only with SSADE;
 *   x86-64 FS: A (bit 5) / D (bit 6) whenever clear;
 *   AMD v1: IR/IW ANDed over the levels; A / D when the DTE enables HA/HD;
 *   Arm S1: a write to a read-only DBM leaf clears AP[2] when HTTU HD is on.
 * A two-stage walk translates every stage-1 table pointer and the stage-1
 * output through stage 2.
 */
import type { PhysMemory } from '../lib/physmem.ts';
import { modPow2, POW2 } from '../pagetable/pgsize.ts';
import type { PtGeometry } from '../pagetable/format.ts';
import { ACC_READ, ACC_WRITE, PT_ENTRY_TABLE, type PtFormat } from '../pagetable/fmt/types.ts';

export { ACC_READ, ACC_WRITE };

/** Fault reasons (positive; translate() returns their negation). */
export const FAULT_TRANSLATION = 1;
export const FAULT_PERMISSION = 2;
export const FAULT_ADDRESS_SIZE = 3;
export const FAULT_S2 = 4;
export const FAULT_NO_DOMAIN = 5;
export const FAULT_BUS = 6;

/** What the hardware knows about one translation table (context / DTE / CD / STE fields). */
export interface WalkTable {
  kind: number;
  /** The format's entry operations. */
  fmt: PtFormat;
  granLg2: number;
  bitsPerLevel: number;
  /** Table root as written in the context (IPA for a stage 1 under stage 2). */
  root: number;
  topLevel: number;
  /** Entries in the top table (short top or concatenated S2 root). */
  topEntries: number;
  /** Input address size limit (2^vaBits). */
  vaBits: number;
  /** Hardware A/D update enabled (SSADE, DTE HAD, HTTU HD). */
  hd: boolean;
  /** Derived by prepare(): VA span of one entry and index mask per level, and 2^vaBits. */
  itemSizes?: number[];
  idxMasks?: number[];
  vaLimit?: number;
}

/** Fill the derived fields (idempotent); callers that build a WalkTable by hand get them on first walk. */
export function prepare(t: WalkTable): void {
  const sizes: number[] = [];
  const masks: number[] = [];
  for (let l = 0; l <= Math.max(t.topLevel, 6); l++) {
    sizes.push(2 ** (t.granLg2 + t.bitsPerLevel * l));
    masks.push((l === t.topLevel ? t.topEntries : 2 ** t.bitsPerLevel) - 1);
  }
  t.itemSizes = sizes;
  t.idxMasks = masks;
  t.vaLimit = 2 ** t.vaBits;
}

/** Build the hardware's view of a table from a page-table geometry and its current root. */
export function walkTableFrom(g: PtGeometry, rootHw: number, topLevel: number, hd: boolean): WalkTable {
  const t: WalkTable = {
    kind: g.kind,
    fmt: g.fmt,
    granLg2: g.granLg2,
    bitsPerLevel: g.bitsPerLevel,
    root: rootHw,
    topLevel,
    topEntries: g.entries[topLevel] as number,
    vaBits: g.vaBits,
    hd,
    itemSizes: [],
    idxMasks: [],
    vaLimit: 0,
  };
  prepare(t);
  return t;
}

/** Result of a walk (reused object: no allocation per access). */
export class WalkResult {
  /** PA of the accessed byte. */
  pa = 0;
  /** IOVA and PA where the leaf (or the smaller of the two stages' leaves) starts. */
  leafVa = 0;
  leafPa = 0;
  leafLg2 = 0;
  /** Permissions ANDed over the walk (ACC_READ | ACC_WRITE). */
  perm = 0;
  /** Whether the leaf is known write-dirty in memory after this walk. */
  dirty = false;
  /** PA of the last-level table used (walk-cache value) and its level-1 entry span. */
  l0Table = 0;
  l0Level = 0;
  upperPerm = 0;
}

const s2Scratch = new WalkResult();

/**
 * Walk `t` for `iova` with `access`; with `s2`, table pointers and the output
 * are IPAs translated through stage 2. Returns 0 or a FAULT_* code.
 * `startTable`/`startLevel` let a walk-cache hit skip the upper levels.
 */
export function walk(
  mem: PhysMemory,
  t: WalkTable,
  iova: number,
  access: number,
  s2: WalkTable | null,
  out: WalkResult,
  startTable: number,
  startLevel: number,
  startPerm: number,
): number {
  if (t.vaLimit === undefined || t.vaLimit === 0) prepare(t);
  const sizes = t.itemSizes as number[];
  const masks = t.idxMasks as number[];
  if (!(iova >= 0) || iova >= (t.vaLimit as number)) return FAULT_ADDRESS_SIZE;
  const u = mem.devU32;
  const memSize = mem.size;
  let level = startLevel >= 0 ? startLevel : t.topLevel;
  let table = startTable >= 0 ? startTable : t.root;
  let perm = startTable >= 0 ? startPerm : ACC_READ | ACC_WRITE;
  if (startTable < 0 && s2 !== null) {
    const r = walk(mem, s2, table, ACC_READ, null, s2Scratch, -1, -1, 3);
    if (r !== 0) return FAULT_S2;
    table = s2Scratch.pa;
  }
  for (; level >= 0; level--) {
    const idx = (iova / (sizes[level] as number)) & (masks[level] as number);
    const ea = table + idx * 8;
    if (ea < 4096 || ea + 8 > memSize) return FAULT_BUS;
    const w = ea >>> 2;
    const lo = u[w] as number;
    const hi = u[w + 1] as number;
    const f = t.fmt;
    if (!f.hwPresent(lo, hi)) return FAULT_TRANSLATION;
    const leaf = f.entryType(lo, hi, level) !== PT_ENTRY_TABLE;
    if (!leaf) {
      perm &= f.hwPerm(lo, hi, false, t.hd);
      f.hwAccess(lo, hi, w, false, false, t.hd, mem);
      let next = f.tablePa(lo, hi);
      if (s2 !== null) {
        const r = walk(mem, s2, next, ACC_READ, null, s2Scratch, -1, -1, 3);
        if (r !== 0) return FAULT_S2;
        next = s2Scratch.pa;
      }
      if (level === 1) {
        out.l0Table = next;
        out.l0Level = 0;
        out.upperPerm = perm;
      }
      table = next;
      continue;
    }
    const lg2 = (t.granLg2 + t.bitsPerLevel * level) + f.contigLg2(lo, hi, level);
    perm &= f.hwPerm(lo, hi, true, t.hd);
    if ((access & perm) !== access) {
      out.perm = perm;
      return FAULT_PERMISSION;
    }
    out.dirty = f.hwAccess(lo, hi, w, true, (access & ACC_WRITE) !== 0, t.hd, mem);
    const size = POW2[lg2] as number;
    // The entry's address bits below the leaf's size are never added to the offset: Arm takes a
    // block's OA from the bits at and above its size (the ones below are RES0), VT-d and x86 fault
    // on them as reserved bits. The walker takes the aligned base, so a leaf written with an
    // unaligned address (a page size chosen from the IOVA alone) sends the device elsewhere, as
    // hardware would, instead of to the address software meant.
    const written = f.leafOa(lo, hi, level);
    const oa = written - modPow2(written, size);
    const off = modPow2(iova, size);
    out.leafLg2 = lg2;
    out.leafVa = iova - off;
    out.leafPa = oa;
    out.pa = oa + off;
    out.perm = perm;
    if (s2 !== null) {
      const r = walk(mem, s2, out.pa, access, null, s2Scratch, -1, -1, 3);
      if (r !== 0) return FAULT_S2;
      // The cacheable unit is the smaller of the two leaves.
      const l2 = Math.min(lg2, s2Scratch.leafLg2);
      const o2 = modPow2(iova, POW2[l2] as number);
      out.leafLg2 = l2;
      out.leafVa = iova - o2;
      out.pa = s2Scratch.pa;
      out.leafPa = s2Scratch.pa - o2;
      out.perm = perm & s2Scratch.perm;
      out.dirty = out.dirty && s2Scratch.dirty;
    }
    if (level > 0) out.l0Table = -1;
    return 0;
  }
  return FAULT_TRANSLATION;
}
