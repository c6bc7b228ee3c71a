/**
 * Page-table configurations: a FormatConfig names a format and the options the
 * kernel's driver sets it up with; makeGeometry resolves it into the format's
 * entry operations (fmt/*.ts) and the table geometry (levels, index bits, the
 * page-size bitmap, VA/OA limits, the aperture) the way the profile's driver
 * computes them, and names the algorithm that maps and unmaps:
 *   'generic_pt'       7.3 VT-d SS, x86-64, AMD v1, selftest mock (iommu_pt.h, table.ts)
 *   'io-pgtable-arm'   Arm LPAE, both profiles (io-pgtable-arm.c through the iommu core)
 *   'intel-612'        6.12 VT-d SS and first stage (intel/iommu.c)
 *   'amd-612'          6.12 AMD v1 (amd/io_pgtable.c)
 *
 * Level numbering follows generic_pt: level 0 is the leaf-most table.
 */
import { amdv1Format } from './fmt/amdv1.ts';
import { armFormat } from './fmt/armv8.ts';
import type { FormatOptions, PtFormat } from './fmt/types.ts';
import { vtdssFormat } from './fmt/vtdss.ts';
import { x86Format } from './fmt/x86_64.ts';

export { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from './fmt/types.ts';
export type { PtFormat } from './fmt/types.ts';

/** Format kinds (small ints for the few places that branch on the family). */
export const K_VTDSS = 0; // Intel VT-d second stage (fmt/vtdss.ts)
export const K_X86 = 1; // x86-64 / VT-d first stage / AMD v2 (fmt/x86_64.ts)
export const K_AMDV1 = 2; // AMD IOMMU v1 host table (fmt/amdv1.ts)
export const K_ARM_S1 = 3; // Arm VMSAv8-64 LPAE stage 1 (fmt/armv8.ts)
export const K_ARM_S2 = 4; // Arm VMSAv8-64 LPAE stage 2
export const K_MOCK = 5; // iommufd selftest AMDv1 mock, 2 KiB granule

export type FormatName = 'vtd-ss' | 'x86-64' | 'amd-v1' | 'arm-s1' | 'arm-s2' | 'mock-amdv1';
export type PtDriver = 'generic_pt' | 'io-pgtable-arm' | 'intel-612' | 'amd-612';

export interface FormatConfig {
  format: FormatName;
  /** Kernel profile whose driver the table follows (default 7.3). */
  profile?: '6.12' | '7.3';
  /** VT-d SS: 3/4/5 (default 4); x86-64: 4/5 (default 4); AMD v1: starting levels 1..6 (default 3). */
  levels?: number;
  /**
   * generic_pt hw_max_vasz_lg2 (7.3): the VA bits the unit supports. Defaults:
   * VT-d/x86 the table's width (sign-extended x86 counts the sign bit), AMD v1
   * 64, mock 56.
   */
  vasz?: number;
  /** VT-d CAP.SLLPS / superpage support: allow 2 MiB leaves (default true). */
  pg2M?: boolean;
  /** Allow 1 GiB leaves (default true). */
  pg1G?: boolean;
  /** Arm granule in bytes: 4096, 16384 or 65536 (default 4096). */
  granule?: number;
  /** Arm input address size in bits (default 48; clamped to 48, 52 with the 64K granule). */
  ias?: number;
  /** Output address size in bits (default: VT-d/x86/AMD 52, mock 51, Arm 48). */
  oas?: number;
  /** Enforce cache coherency from the start: VT-d SNP (7.3 FORCE_COHERENCE / 6.12 set_pte_snp). AMD v1 always has FC. */
  coherent?: boolean;
  /** Dirty-tracking capable domain (Arm stage 1: IO_PGTABLE_QUIRK_ARM_HD, writable leaves get DBM). */
  dirty?: boolean;
  /** Mock: 'huge' restricts the bitmap to 1 MiB | 4 KiB (MOCK_IOMMUPT_HUGE). */
  mockVariant?: 'default' | 'huge';
  /** VT-d nesting parent on SPR errata: read-only maps fail with -EINVAL (7.3 FORCE_WRITEABLE, 6.12 nested_parent). */
  forceWriteable?: boolean;
  /** Restrict the page-size bitmap to these sizes in bytes (domain->pgsize_bitmap &= ...). */
  restrictPgsizes?: number[];
  /** x86-64: VA is sign-extended (VT-d first stage); the upper half is reachable through the wide API. */
  signExtend?: boolean;
  /** Walker sees PTE writes only after explicit flushes (DMA_INCOHERENT / coherent_walk=false). */
  nonCoherentWalk?: boolean;
  /**
   * Value added to every table pointer and to the root as written/reported, so a
   * stage-1 table built here can be walked through a stage 2 that maps IPA = PA + bias.
   */
  tablePtrBias?: number;
}

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

function lg2Exact(n: number): number {
  return Math.round(Math.log2(n));
}

interface Shape {
  kind: number;
  driver: PtDriver;
  fmt: PtFormat;
  granLg2: number;
  bits: number;
  levels: number;
  maxTopLevel: number;
  topEntries: number;
  dynamicTop: boolean;
  maxVaBits: number;
  vaBits: number;
  oaBits: number;
  sizes: [number, number][];
  apertureStart: bigint;
  apertureLast: bigint;
  signExtend: boolean;
  mockHuge: boolean;
}

/** generic_pt get_info: log2_mod(bitmap, max_vasz - 1), then oalog2_mod(…, max_oasz). */
function trimGetInfo(sizes: [number, number][], maxVasz: number, oasz: number): [number, number][] {
  return sizes.filter(([l]) => l < maxVasz - 1 && l < oasz);
}

const ARM_OAS = [32, 36, 40, 42, 44, 48, 52];

function shapeOf(cfg: FormatConfig, profile: '6.12' | '7.3', o: FormatOptions): Shape | string {
  switch (cfg.format) {
    case 'vtd-ss':
    case 'x86-64': {
      const vtd = cfg.format === 'vtd-ss';
      const levels = cfg.levels ?? 4;
      if (!(vtd ? [3, 4, 5] : [4, 5]).includes(levels)) return 'levels';
      const fmt = vtd ? vtdssFormat(o) : x86Format(o);
      const width = 12 + 9 * levels;
      const oaBits = cfg.oas ?? 52;
      if (oaBits > 52 || oaBits < 32) return 'oas';
      const signExtend = !vtd && (cfg.signExtend ?? false);
      let sizes: [number, number][] = [[12, 0]];
      if (cfg.pg2M ?? true) sizes.push([21, 1]);
      if (cfg.pg1G ?? true) sizes.push([30, 2]);
      if (profile === '6.12') {
        // intel/iommu.c paging_domain_alloc: gaw = the table's width; the first stage skips bit gaw-1.
        const last = (1n << BigInt(width - (vtd ? 0 : 1))) - 1n;
        return {
          kind: vtd ? K_VTDSS : K_X86, driver: 'intel-612', fmt, granLg2: 12, bits: 9, levels, maxTopLevel: levels - 1,
          topEntries: 512, dynamicTop: false, maxVaBits: width, vaBits: width, oaBits, sizes,
          apertureStart: 0n, apertureLast: last, signExtend: false, mockHuge: false,
        };
      }
      // 7.3 generic_pt: hw_max_vasz_lg2 (sign extension counts the sign bit), aperture = the lower range.
      const vasz = cfg.vasz ?? width;
      if (vasz > width || vasz < 12 + 9 * (levels - 1)) return 'vasz';
      sizes = trimGetInfo(sizes, vasz, oaBits);
      const apBits = signExtend ? vasz - 1 : vasz;
      return {
        kind: vtd ? K_VTDSS : K_X86, driver: 'generic_pt', fmt, granLg2: 12, bits: 9, levels, maxTopLevel: levels - 1,
        topEntries: 512, dynamicTop: false, maxVaBits: vasz, vaBits: vasz, oaBits, sizes,
        apertureStart: 0n, apertureLast: (1n << BigInt(apBits)) - 1n, signExtend, mockHuge: false,
      };
    }
    case 'amd-v1':
    case 'mock-amdv1': {
      const mock = cfg.format === 'mock-amdv1';
      const fmt = amdv1Format(o, mock);
      const granLg2 = mock ? 11 : 12;
      const maxOa = mock ? 51 : 52;
      const oaBits = Math.min(cfg.oas ?? maxOa, maxOa);
      if (oaBits < 32) return 'oas';
      const maxTopLevel = mock ? 4 : 5;
      // amdv1pt_possible_sizes: item .. item*256 (never a whole table), <= 2^51, never 512 GiB.
      const possible = (l: number): [number, number][] => {
        const out: [number, number][] = [];
        const isz = granLg2 + 9 * l;
        for (let s = isz; s <= Math.min(51, isz + 8); s++) if (s !== 39) out.push([s, l]);
        return out;
      };
      if (profile === '6.12' && !mock) {
        // amd/io_pgtable.c v1_alloc_pgtable: 3-level mode, grown by increase_address_space up to 6;
        // pgsize_bitmap AMD_IOMMU_PGSIZES (GENMASK(51, 12) ^ SZ_512G); aperture 0..~0 (dma_max_address).
        const sizes: [number, number][] = [];
        for (let l = 0; l <= 4; l++) sizes.push(...possible(l));
        const levels = cfg.levels ?? 3;
        if (levels < 1 || levels > 6) return 'levels';
        return {
          kind: K_AMDV1, driver: 'amd-612', fmt, granLg2, bits: 9, levels, maxTopLevel: 5, topEntries: 512,
          dynamicTop: true, maxVaBits: 64, vaBits: Math.min(64, 12 + 9 * levels), oaBits, sizes,
          apertureStart: 0n, apertureLast: (1n << 64n) - 1n, signExtend: false, mockHuge: false,
        };
      }
      // 7.3 amdv1pt_iommu_fmt_init: AMD v1 always has DYNAMIC_TOP (PT_FORCE_ENABLED_FEATURES);
      // the mock (PT_SUPPORTED_FEATURES 0) starts at level 2 with max_vasz = granule + 9 * 3.
      const levels = mock ? 3 : (cfg.levels ?? 3);
      if (levels < 2 || levels > maxTopLevel + 1) return 'levels';
      const dynamicTop = !mock;
      const hwVasz = cfg.vasz ?? (mock ? 56 : 64);
      if (hwVasz > (mock ? 56 : 64) || hwVasz < 32) return 'vasz';
      const startTop = levels - 1;
      const maxVasz = dynamicTop || startTop === maxTopLevel ? hwVasz : Math.min(hwVasz, granLg2 + 9 * (startTop + 1));
      let sizes: [number, number][] = [];
      if (dynamicTop) {
        for (let l = 0; l <= maxTopLevel; l++) {
          if (granLg2 + 9 * l >= maxVasz) break;
          if (l < maxTopLevel) sizes.push(...possible(l));
        }
      } else {
        for (let l = 0; l <= Math.min(startTop, maxTopLevel - 1); l++) sizes.push(...possible(l));
      }
      sizes = trimGetInfo(sizes, maxVasz, oaBits);
      const mockHuge = mock && cfg.mockVariant === 'huge';
      if (mockHuge) sizes = sizes.filter(([l]) => l === 12 || l === 20); // MOCK_HUGE_PAGE_SIZE | PAGE_SIZE
      return {
        kind: mock ? K_MOCK : K_AMDV1, driver: 'generic_pt', fmt, granLg2, bits: 9, levels, maxTopLevel, topEntries: 512,
        dynamicTop, maxVaBits: maxVasz, vaBits: Math.min(maxVasz, granLg2 + 9 * levels), oaBits, sizes,
        apertureStart: 0n, apertureLast: maxVasz >= 64 ? (1n << 64n) - 1n : (1n << BigInt(maxVasz)) - 1n, signExtend: false, mockHuge,
      };
    }
    case 'arm-s1':
    case 'arm-s2': {
      const stage = cfg.format === 'arm-s1' ? 1 : 2;
      const g = cfg.granule ?? 4096;
      if (g !== 4096 && g !== 16384 && g !== 65536) return 'granule';
      const granLg2 = lg2Exact(g);
      const bits = granLg2 - 3;
      // arm_lpae_restrict_pgsizes: the granule's block sizes; 4T only with the 64K granule and oas > 48.
      const maxAddr = g === 65536 ? 52 : 48;
      const reqOas = cfg.oas ?? 48;
      const reqIas = cfg.ias ?? 48;
      if (reqIas > 52) return 'ias';
      if (reqOas > 52) return 'oas';
      const ias = Math.min(reqIas, maxAddr);
      const oas = Math.min(reqOas, maxAddr);
      // arm_64_lpae_alloc_pgtable_s1/_s2: TCR/VTCR.PS has encodings for these output sizes only.
      if (!ARM_OAS.includes(oas)) return 'oas';
      if (ias <= granLg2) return 'ias';
      const fmt = armFormat(o, stage, granLg2);
      let levels = Math.ceil((ias - granLg2) / bits);
      const startLevel = 4 - levels;
      let pgdBits = ias - granLg2 - bits * (levels - 1);
      if (stage === 2) {
        let concat: boolean;
        if (profile === '6.12') {
          // 6.12 arm_64_lpae_alloc_pgtable_s2: concatenate whenever start_level is 0 and the pgd has <= 16 entries.
          concat = startLevel === 0 && 2 ** pgdBits <= 16;
        } else {
          // 7.3 arm_lpae_concat_mandatory (Arm DDI0487 R_DXBSH, R_SRKBC).
          if (g === 16384 && startLevel === 0) concat = oas === 48 || ias === 48;
          else if (g === 4096 && startLevel === 0) concat = oas === 40 || oas === 42;
          else concat = g === 16384 && startLevel === 1 && oas === 40;
          if (concat && 2 ** pgdBits > 16) return 'ias';
        }
        if (concat) {
          // data->pgd_bits += bits_per_level; data->start_level++
          pgdBits += bits;
          levels--;
        }
      }
      const sizes: [number, number][] = [];
      const blocks = g === 4096 ? [12, 21, 30] : g === 16384 ? [14, 25] : oas > 48 ? [16, 29, 42] : [16, 29];
      for (const s of blocks) {
        const l = (s - granLg2) / bits;
        if (l <= levels - 1) sizes.push([s, l]);
      }
      return {
        kind: stage === 1 ? K_ARM_S1 : K_ARM_S2, driver: 'io-pgtable-arm', fmt, granLg2, bits, levels, maxTopLevel: levels - 1,
        topEntries: 2 ** pgdBits, dynamicTop: false, maxVaBits: ias, vaBits: ias, oaBits: oas, sizes,
        apertureStart: 0n, apertureLast: (1n << BigInt(ias)) - 1n, signExtend: false, mockHuge: false,
      };
    }
    default:
      return 'format';
  }
}

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
  const s = shapeOf(cfg, profile, o);
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
