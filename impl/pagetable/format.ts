/**
 * Page-table configurations: a FormatConfig names a format and the options the
 * kernel's driver sets it up with. Each format module (fmt/*.ts) gives both
 * its entry operations and its geometry (levels, index bits, page sizes,
 * VA/OA limits, the aperture) the way the profile's driver computes them;
 * makeGeometry picks the module by name and derives the per-level arrays the
 * algorithms index. The shape also names the algorithm that maps and unmaps:
 *   'generic_pt'       7.3 VT-d SS, x86-64, AMD v1, selftest mock (iommu_pt.h, table.ts)
 *   'io-pgtable-arm'   Arm LPAE, both profiles (io-pgtable-arm.c through the iommu core)
 *   'intel-612'        6.12 VT-d SS and first stage (intel/iommu.c)
 *   'amd-612'          6.12 AMD v1 (amd/io_pgtable.c)
 *
 * Level numbering follows generic_pt: level 0 is the leaf-most table.
 */
import { amdv1Shape } from './fmt/amdv1.ts';
import { armShape } from './fmt/armv8.ts';
import type { FormatConfig, FormatName, FormatOptions, PtDriver, PtFormat, ShapeFn } from './fmt/types.ts';
import { vtdssShape } from './fmt/vtdss.ts';
import { x86Shape } from './fmt/x86_64.ts';

export { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from './fmt/types.ts';
export type { FormatConfig, FormatName, PtDriver, PtFormat } from './fmt/types.ts';
export { K_AMDV1, K_ARM_S1, K_ARM_S2, K_MOCK, K_VTDSS, K_X86 } from './fmt/types.ts';

export interface PtGeometry {
  readonly kind: number;
  readonly name: FormatName;
  readonly profile: '6.12' | '7.3';
  readonly driver: PtDriver;
  /** The format's entry operations. */
  readonly fmt: PtFormat;
  /** The options the format reads (enforce_cache_coherency turns `coherent` on). */
  readonly opts: FormatOptions;
  readonly granLg2: number;
  readonly bitsPerLevel: number;
  /** log2 of the VA span of one entry at each level. */
  readonly itemLg2: number[];
  /** Entries in a table at each level (top may differ: short top / concatenated S2 root). */
  entries: number[];
  /** Bytes of a table at each level (allocation is max(bytes, 4096) rounded to a power of two). */
  tableBytes: number[];
  topLevel: number;
  readonly maxTopLevel: number;
  readonly dynamicTop: boolean;
  /** Current VA size in bits (grows with the top for dynamic-top formats). */
  vaBits: number;
  /** Max VA bits the table may reach (max_vasz_lg2). */
  readonly maxVaBits: number;
  readonly oaBits: number;
  /** Supported leaf sizes (lg2), ascending; this is the domain pgsize bitmap. */
  readonly pgsizes: number[];
  /** For each lg2 0..63: level holding leaves of that size, or -1. */
  readonly levelOfLg2: Int8Array;
  /** Highest level that may hold leaves. */
  readonly maxLeafLevel: number;
  /** Domain aperture (geometry.aperture_start / aperture_end), exact. */
  readonly apertureStart: bigint;
  readonly apertureLast: bigint;
  readonly coherent: boolean;
  readonly dirty: boolean;
  readonly forceWriteable: boolean;
  readonly nonCoherentWalk: boolean;
  readonly tablePtrBias: number;
  readonly mockHuge: boolean;
  readonly signExtend: boolean;
}

/**
 * Each format module's geometry (fmt/*.ts), by config name: the only place
 * that chooses a module by name.
 */
const SHAPES: Record<FormatName, ShapeFn> = {
  'vtd-ss': vtdssShape,
  'x86-64': x86Shape,
  'amd-v1': amdv1Shape(false),
  'mock-amdv1': amdv1Shape(true),
  'arm-s1': armShape(1),
  'arm-s2': armShape(2),
};

/** Build the geometry for a config; returns a string naming the bad field on error. */
export function makeGeometry(cfg: FormatConfig): PtGeometry | string {
  const profile = cfg.profile ?? '7.3';
  const o: FormatOptions = {
    profile,
    // AMD v1 leaves always carry FC (7.3 FORCE_COHERENCE is forced on; 6.12 sets IOMMU_PTE_FC).
    coherent: cfg.coherent ?? cfg.format === 'amd-v1',
    forceWriteable: cfg.forceWriteable ?? false,
    armHd: cfg.format === 'arm-s1' && (cfg.dirty ?? false),
  };
  const shape = SHAPES[cfg.format] as ShapeFn | undefined;
  if (shape === undefined) return 'format';
  const s = shape(cfg, profile, o);
  if (typeof s === 'string') return s;
  let sizes = s.sizes.sort((a, b) => a[0] - b[0]);
  if (cfg.restrictPgsizes !== undefined) {
    const allow = new Set(cfg.restrictPgsizes.map((b) => Math.log2(b)));
    sizes = sizes.filter(([l]) => allow.has(l));
  }
  if (sizes.length === 0) return 'restrictPgsizes';
  const levelOfLg2 = new Int8Array(64).fill(-1);
  for (const [l, lvl] of sizes) levelOfLg2[l] = lvl;
  const itemLg2: number[] = [];
  const entries: number[] = [];
  const tableBytes: number[] = [];
  for (let l = 0; l <= s.maxTopLevel; l++) {
    itemLg2.push(s.granLg2 + s.bits * l);
    entries.push(2 ** s.bits);
    tableBytes.push(Math.max(8 * 2 ** s.bits, 4096));
  }
  entries[s.maxTopLevel] = s.topEntries;
  tableBytes[s.maxTopLevel] = Math.max(4096, s.topEntries * 8);
  const maxLeafLevel = Math.max(...sizes.map(([, l]) => l));
  return {
    kind: s.kind,
    name: cfg.format,
    profile,
    driver: s.driver,
    fmt: s.fmt,
    opts: o,
    granLg2: s.granLg2,
    bitsPerLevel: s.bits,
    itemLg2,
    entries,
    tableBytes,
    topLevel: s.levels - 1,
    maxTopLevel: s.maxTopLevel,
    dynamicTop: s.dynamicTop,
    vaBits: s.vaBits,
    maxVaBits: s.maxVaBits,
    oaBits: s.oaBits,
    pgsizes: sizes.map(([l]) => l),
    levelOfLg2,
    maxLeafLevel,
    apertureStart: s.apertureStart,
    apertureLast: s.apertureLast,
    coherent: o.coherent,
    dirty: cfg.dirty ?? false,
    forceWriteable: cfg.forceWriteable ?? false,
    nonCoherentWalk: cfg.nonCoherentWalk ?? false,
    tablePtrBias: cfg.tablePtrBias ?? 0,
    mockHuge: s.mockHuge,
    signExtend: s.signExtend,
  };
}

/** VA bits covered with the top at `level`. */
export function vaBitsAtTop(g: PtGeometry, level: number): number {
  const span = (g.itemLg2[level] as number) + Math.log2(g.entries[level] as number);
  return Math.min(span, g.maxVaBits);
}

/** Format names the bench and tests use as shorthands. */
export const BENCH_FORMATS: Record<string, FormatConfig> = {
  'vtd-ss': { format: 'vtd-ss', levels: 4 },
  'amd-v1': { format: 'amd-v1', levels: 3 },
  'arm-s1-4k': { format: 'arm-s1', granule: 4096, ias: 48, oas: 48 },
  'arm-s1-64k': { format: 'arm-s1', granule: 65536, ias: 48, oas: 48 },
};
