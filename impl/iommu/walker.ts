/**
 * The simulated IOMMU's page-table walker. It decodes PTEs from the device
 * view of physical memory on its own (no code shared with the map side in
 * impl/pagetable/table.ts), checks permissions ANDed down the walk as the
 * hardware does, and sets accessed/dirty bits as each format prescribes:
 *   VT-d SS: A (bit 8) on every level and D (bit 9) on write, only with SSADE;
 *   x86-64 FS: A (bit 5) / D (bit 6) whenever clear;
 *   AMD v1: A (bit 5) / D (bit 6) when the DTE enables HA/HD (dirty tracking);
 *   Arm S1: write to a read-only DBM leaf clears AP[2] when HTTU HD is on;
 *   Arm S2: write to a DBM leaf with S2AP[1] clear sets S2AP[1].
 * A two-stage walk translates every stage-1 table pointer and the stage-1
 * output through stage 2.
 */
import type { PhysMemory } from './physmem.ts';
import { modPow2, POW2 } from '../pagetable/pgsize.ts';
import { K_AMDV1, K_ARM_S1, K_ARM_S2, K_MOCK, K_VTDSS, K_X86, type PtGeometry } from '../pagetable/format.ts';

export const ACC_READ = 1;
export const ACC_WRITE = 2;

/** Fault reasons (positive; translate() returns their negation). */
export const FAULT_TRANSLATION = 1;
export const FAULT_PERMISSION = 2;
export const FAULT_ADDRESS_SIZE = 3;
export const FAULT_S2 = 4;
export const FAULT_NO_DOMAIN = 5;
export const FAULT_BUS = 6;

const TWO32 = 4294967296;

/** What the hardware knows about one translation table (context / DTE / CD / STE fields). */
export interface WalkTable {
  kind: number;
  granLg2: number;
  bitsPerLevel: number;
  /** Table root as written in the context (IPA for a stage 1 under stage 2). */
  root: number;
  topLevel: number;
  /** Entries in the top table (short top or concatenated S2 root). */
  topEntries: number;
  /** Input address size limit (2^vaBits). */
  vaBits: number;
  /** Entry address field = address * addrScale (mock AMDv1: 2). */
  addrScale: number;
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
    granLg2: g.granLg2,
    bitsPerLevel: g.bitsPerLevel,
    root: rootHw,
    topLevel,
    topEntries: g.entries[topLevel] as number,
    vaBits: g.vaBits,
    addrScale: g.addrScale,
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

function itemLg2(t: WalkTable, level: number): number {
  return t.granLg2 + t.bitsPerLevel * level;
}

function isPresent(kind: number, lo: number): boolean {
  return (lo & (kind === K_VTDSS ? 3 : 1)) !== 0;
}

function isTableEntry(kind: number, lo: number, level: number): boolean {
  if (level === 0) return false;
  if (kind === K_VTDSS || kind === K_X86) return (lo & 0x80) === 0;
  if (kind === K_AMDV1 || kind === K_MOCK) {
    const nl = (lo >>> 9) & 7;
    return nl !== 0 && nl !== 7;
  }
  return (lo & 2) !== 0;
}

function addrOf(kind: number, lo: number, hi: number, scale: number): number {
  const hm = kind === K_ARM_S1 || kind === K_ARM_S2 ? 0xffff : 0xfffff;
  return ((hi & hm) * TWO32 + ((lo & 0xfffff000) >>> 0)) / scale;
}

/** Permission bits granted by one entry (tables and leaves; ANDed by the caller). */
function entryPerm(kind: number, lo: number, hi: number, isLeaf: boolean, hd: boolean): number {
  switch (kind) {
    case K_VTDSS:
      return (lo & 1 ? ACC_READ : 0) | (lo & 2 ? ACC_WRITE : 0);
    case K_X86:
      return ACC_READ | (lo & 2 ? ACC_WRITE : 0);
    case K_AMDV1:
    case K_MOCK:
      return (hi & 0x20000000 ? ACC_READ : 0) | (hi & 0x40000000 ? ACC_WRITE : 0);
    case K_ARM_S1: {
      if (!isLeaf) return ACC_READ | ACC_WRITE;
      const dbm = (hi & (1 << 19)) !== 0;
      return ACC_READ | (!(lo & 0x80) || (dbm && hd) ? ACC_WRITE : 0);
    }
    default: {
      if (!isLeaf) return ACC_READ | ACC_WRITE;
      const dbm = (hi & (1 << 19)) !== 0;
      return (lo & 0x40 ? ACC_READ : 0) | (lo & 0x80 || (dbm && hd) ? ACC_WRITE : 0);
    }
  }
}

/** Leaf size lg2 including AMD NextLevel=7 replication (Arm CONT entries each map their own item). */
function leafSizeLg2(t: WalkTable, lo: number, hi: number, level: number): number {
  const item = itemLg2(t, level);
  if ((t.kind === K_AMDV1 || t.kind === K_MOCK) && ((lo >>> 9) & 7) === 7) {
    // Size = 2^(granule + 1 + number of ones from OA-field bit 0).
    let field = (hi & 0xfffff) * 1048576 + (lo >>> 12);
    let ones = 0;
    while (field % 2 === 1) {
      ones++;
      field = (field - 1) / 2;
    }
    return t.granLg2 + 1 + ones;
  }
  return item;
}

/** Set A (and D on write) as the format's hardware does; returns whether D is now set. */
function updateAD(mem: PhysMemory, t: WalkTable, w: number, lo: number, hi: number, isLeaf: boolean, write: boolean): boolean {
  const k = t.kind;
  let nlo = lo;
  if (k === K_VTDSS) {
    if (!t.hd) return (lo & 0x200) !== 0;
    nlo |= 0x100;
    if (isLeaf && write) nlo |= 0x200;
    if (nlo !== lo) mem.deviceWrite32(w, nlo);
    return (nlo & 0x200) !== 0;
  }
  if (k === K_X86) {
    nlo |= 0x20;
    if (isLeaf && write) nlo |= 0x40;
    if (nlo !== lo) mem.deviceWrite32(w, nlo);
    return (nlo & 0x40) !== 0;
  }
  if (k === K_AMDV1 || k === K_MOCK) {
    if (!t.hd) return (lo & 0x40) !== 0;
    nlo |= 0x20;
    if (isLeaf && write) nlo |= 0x40;
    if (nlo !== lo) mem.deviceWrite32(w, nlo);
    return (nlo & 0x40) !== 0;
  }
  if (!isLeaf) return false;
  const dbm = (hi & (1 << 19)) !== 0;
  if (k === K_ARM_S1) {
    if (write && dbm && t.hd && lo & 0x80) {
      nlo = lo & ~0x80;
      mem.deviceWrite32(w, nlo >>> 0);
    }
    return dbm && (nlo & 0x80) === 0;
  }
  if (write && dbm && t.hd && !(lo & 0x80)) {
    nlo = lo | 0x80;
    mem.deviceWrite32(w, nlo);
  }
  return dbm && (nlo & 0x80) !== 0;
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
    if (!isPresent(t.kind, lo)) return FAULT_TRANSLATION;
    const leaf = !isTableEntry(t.kind, lo, level);
    if (!leaf) {
      perm &= entryPerm(t.kind, lo, hi, false, t.hd);
      updateAD(mem, t, w, lo, hi, false, false);
      let next = addrOf(t.kind, lo, hi, t.addrScale);
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
    const lg2 = leafSizeLg2(t, lo, hi, level);
    perm &= entryPerm(t.kind, lo, hi, true, t.hd);
    if ((access & perm) !== access) {
      out.perm = perm;
      return FAULT_PERMISSION;
    }
    out.dirty = updateAD(mem, t, w, lo, hi, true, (access & ACC_WRITE) !== 0);
    const size = POW2[lg2] as number;
    let oa = addrOf(t.kind, lo, hi, t.addrScale);
    if (lg2 > 12) oa = Math.floor(oa / size) * size; // strip AMD size code
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
