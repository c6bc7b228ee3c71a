/**
 * Page-table format descriptions: geometry (levels, index bits, leaf sizes) and
 * the constants the engine (table.ts) and the walker (impl/iommu/walker.ts)
 * use to encode/decode PTEs. One `PtGeometry` per domain; plain numbers only.
 *
 * Level numbering follows generic_pt: level 0 is the leaf-most table.
 */

/** Format kinds (small ints so hot code can `switch`). */
export const K_VTDSS = 0; // Intel VT-d second stage (drivers/iommu/generic_pt/fmt/vtdss.h)
export const K_X86 = 1; // x86-64 / VT-d first stage / AMD v2 (fmt/x86_64.h)
export const K_AMDV1 = 2; // AMD IOMMU v1 host table (fmt/amdv1.h)
export const K_ARM_S1 = 3; // Arm VMSAv8-64 LPAE stage 1 (io-pgtable-arm.c)
export const K_ARM_S2 = 4; // Arm VMSAv8-64 LPAE stage 2
export const K_MOCK = 5; // iommufd selftest AMDv1 mock, 2 KiB granule (fmt/iommu_mock.c)

export type FormatName = 'vtd-ss' | 'x86-64' | 'amd-v1' | 'arm-s1' | 'arm-s2' | 'mock-amdv1';

/** IOMMU_* prot bits (include/linux/iommu.h). */
export const IOMMU_READ = 1;
export const IOMMU_WRITE = 2;
export const IOMMU_CACHE = 4;
export const IOMMU_NOEXEC = 8;
export const IOMMU_MMIO = 16;
export const IOMMU_PRIV = 32;

export interface FormatConfig {
  format: FormatName;
  /** Kernel profile whose driver behaviour the table follows (default 7.3). */
  profile?: '6.12' | '7.3';
  /** VT-d SS: 3/4/5 (default 4); x86-64: 4/5 (default 4); AMD v1: starting levels 1..6 (default 3). */
  levels?: number;
  /** VT-d SS CAP.SLLPS / x86 large-page support: allow 2 MiB leaves (default true). */
  pg2M?: boolean;
  /** Allow 1 GiB leaves (default true). */
  pg1G?: boolean;
  /** Arm granule in bytes: 4096, 16384 or 65536 (default 4096). */
  granule?: number;
  /** Arm input address size in bits (default 48). */
  ias?: number;
  /** Output address size in bits (default 48; AMD 52, mock 51). */
  oas?: number;
  /** Arm: also offer contiguous-hint sizes in the page-size bitmap (default false, as io-pgtable-arm). */
  contig?: boolean;
  /** Enforce cache coherency from the start: VT-d SNP, AMD FC (default: AMD v1 yes, others no). */
  coherent?: boolean;
  /** Dirty-tracking capable (Arm: writable leaves get DBM, IO_PGTABLE_QUIRK_ARM_HD). */
  dirty?: boolean;
  /** AMD v1: grow the top on demand (PT_FEAT_DYNAMIC_TOP; default true; mock: false). */
  dynamicTop?: boolean;
  /** Mock: 'huge' restricts the bitmap to 1 MiB | 4 KiB (MOCK_IOMMUPT_HUGE). */
  mockVariant?: 'default' | 'huge';
  /** VT-d nesting parent on SPR errata: read-only maps fail with -EINVAL (PT_FEAT_VTDSS_FORCE_WRITEABLE). */
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
  /** Max VA bits the format allows (for increase_top). */
  readonly maxVaBits: number;
  readonly oaBits: number;
  /** Supported leaf sizes (lg2), ascending; this is the domain pgsize bitmap. */
  readonly pgsizes: number[];
  /** For each lg2 0..63: level holding leaves of that size, or -1. */
  readonly levelOfLg2: Int8Array;
  /** Highest level that may hold leaves. */
  readonly maxLeafLevel: number;
  /** Arm contiguous run length lg2 per level (0 = none). */
  readonly contigLg2: number[];
  /** PTE address scale: entry address field = oa * addrScale (mock stores oa >> 11 at bit 12). */
  readonly addrScale: number;
  readonly coherent: boolean;
  readonly dirty: boolean;
  readonly forceWriteable: boolean;
  readonly nonCoherentWalk: boolean;
  readonly tablePtrBias: number;
  readonly mockHuge: boolean;
  readonly signExtend: boolean;
}

function pow2LevelBits(n: number): number {
  return Math.round(Math.log2(n));
}

/** Build the geometry for a config; returns a string naming the bad field on error. */
export function makeGeometry(cfg: FormatConfig): PtGeometry | string {
  const levelOfLg2 = new Int8Array(64).fill(-1);
  const pgsizes: number[] = [];
  const addSize = (lg2: number, level: number): void => {
    if (levelOfLg2[lg2] !== -1) return;
    levelOfLg2[lg2] = level;
    pgsizes.push(lg2);
  };
  let kind: number;
  let granLg2 = 12;
  let bits = 9;
  let levels: number;
  let maxTopLevel: number;
  let vaBits: number;
  let maxVaBits: number;
  let oaBits = cfg.oas ?? 48;
  let dynamicTop = false;
  let addrScale = 1;
  let topEntries = 512;
  const contigLg2: number[] = [0, 0, 0, 0, 0, 0];
  let maxLeafLevel = 2;
  let mockHuge = false;
  switch (cfg.format) {
    case 'vtd-ss':
    case 'x86-64': {
      kind = cfg.format === 'vtd-ss' ? K_VTDSS : K_X86;
      levels = cfg.levels ?? 4;
      const ok = kind === K_VTDSS ? [3, 4, 5] : [4, 5];
      if (!ok.includes(levels)) return 'levels';
      maxTopLevel = levels - 1;
      vaBits = maxVaBits = 12 + 9 * levels;
      if (oaBits > 52 || oaBits < 32) return 'oas';
      addSize(12, 0);
      if (cfg.pg2M ?? true) addSize(21, 1);
      if (cfg.pg1G ?? true) addSize(30, 2);
      break;
    }
    case 'amd-v1':
    case 'mock-amdv1': {
      const mock = cfg.format === 'mock-amdv1';
      kind = mock ? K_MOCK : K_AMDV1;
      granLg2 = mock ? 11 : 12;
      addrScale = mock ? 2 : 1;
      oaBits = cfg.oas ?? (mock ? 51 : 52);
      if (oaBits > (mock ? 51 : 52) || oaBits < 32) return 'oas';
      maxTopLevel = mock ? 4 : 5;
      // Mock: starting_level 2 without DYNAMIC_TOP (PT_SUPPORTED_FEATURES 0).
      levels = mock ? 3 : (cfg.levels ?? 3);
      if (levels < 1 || levels > maxTopLevel + 1) return 'levels';
      dynamicTop = mock ? false : (cfg.dynamicTop ?? true);
      // 64-bit (mock: 56-bit) VA; IOVAs >= 2^53 go through the wide (bigint) API.
      maxVaBits = mock ? 56 : 64;
      vaBits = dynamicTop ? Math.min(granLg2 + 9 * levels, maxVaBits) : Math.min(granLg2 + 9 * levels, maxVaBits);
      maxLeafLevel = Math.min(maxTopLevel - 1, 4);
      const leafTop = dynamicTop ? maxLeafLevel : Math.min(levels - 1, maxLeafLevel);
      // amdv1pt_possible_sizes: item size .. item*256, <= 2^51, never 512 GiB.
      for (let l = 0; l <= leafTop; l++) {
        const isz = granLg2 + 9 * l;
        for (let s = isz; s <= Math.min(51, isz + 8); s++) if (s !== 39 || mock) addSize(s, l);
      }
      if (mock && cfg.mockVariant === 'huge') {
        mockHuge = true;
      }
      break;
    }
    case 'arm-s1':
    case 'arm-s2': {
      kind = cfg.format === 'arm-s1' ? K_ARM_S1 : K_ARM_S2;
      const g = cfg.granule ?? 4096;
      if (g !== 4096 && g !== 16384 && g !== 65536) return 'granule';
      granLg2 = pow2LevelBits(g);
      bits = granLg2 - 3;
      const ias = cfg.ias ?? 48;
      if (ias < 32 || ias > 48) return 'ias';
      if (oaBits < 32 || oaBits > 48) return 'oas';
      levels = Math.ceil((ias - granLg2) / bits);
      const topBits = ias - granLg2 - bits * (levels - 1);
      topEntries = 2 ** topBits;
      // arm_64_lpae_alloc_pgtable_s2: concatenate up to 16 top tables to drop a level.
      if (kind === K_ARM_S2 && levels === 4 && topEntries <= 16) {
        levels = 3;
        topEntries = topEntries * 2 ** bits;
      }
      maxTopLevel = levels - 1;
      vaBits = maxVaBits = ias;
      maxLeafLevel = granLg2 === 12 ? 2 : 1;
      for (let l = 0; l <= Math.min(maxLeafLevel, maxTopLevel); l++) addSize(granLg2 + bits * l, l);
      // ARM_LPAE contiguous runs: 16 (4K), 128/32 (16K), 32 (64K).
      for (let l = 0; l <= Math.min(maxLeafLevel, maxTopLevel); l++) {
        contigLg2[l] = granLg2 === 12 ? 4 : granLg2 === 14 ? (l === 0 ? 7 : 5) : 5;
        if (cfg.contig) addSize(granLg2 + bits * l + (contigLg2[l] as number), l);
      }
      break;
    }
    default:
      return 'format';
  }
  if (kind !== K_ARM_S1 && kind !== K_ARM_S2) {
    // generic_pt NS(get_info): log2_mod(bitmap, max_vasz_lg2 - 1) hides sizes of
    // half the top table or more (a fixed top: the table's own VA width), then
    // oalog2_mod(bitmap, max_oasz_lg2) hides sizes wider than the output address.
    const maxVasz = dynamicTop ? maxVaBits : vaBits;
    for (let i = pgsizes.length - 1; i >= 0; i--) {
      const l = pgsizes[i] as number;
      if (l >= maxVasz - 1 || l >= oaBits) {
        pgsizes.splice(i, 1);
        levelOfLg2[l] = -1;
      }
    }
  }
  pgsizes.sort((a, b) => a - b);
  if (cfg.restrictPgsizes !== undefined) {
    const allow = new Set(cfg.restrictPgsizes.map((b) => Math.log2(b)));
    for (let i = pgsizes.length - 1; i >= 0; i--) {
      const l = pgsizes[i] as number;
      if (!allow.has(l)) {
        pgsizes.splice(i, 1);
        levelOfLg2[l] = -1;
      }
    }
    if (pgsizes.length === 0) return 'restrictPgsizes';
  }
  const itemLg2: number[] = [];
  const entries: number[] = [];
  const tableBytes: number[] = [];
  for (let l = 0; l <= maxTopLevel; l++) {
    itemLg2.push(granLg2 + bits * l);
    entries.push(2 ** bits);
    tableBytes.push(Math.max(8 * 2 ** bits, 4096));
  }
  // AMD/mock tables are always 4 KiB (PT_TABLEMEM_LG2SZ 12) whatever the granule.
  if (kind === K_ARM_S1 || kind === K_ARM_S2) {
    entries[maxTopLevel] = topEntries;
    tableBytes[maxTopLevel] = Math.max(4096, topEntries * 8);
  }
  if (kind === K_AMDV1 && maxTopLevel === 5) entries[5] = 128; // top entry covers bits 63:57
  const topLevel = levels - 1;
  return {
    kind,
    name: cfg.format,
    granLg2,
    bitsPerLevel: bits,
    itemLg2,
    entries,
    tableBytes,
    topLevel,
    maxTopLevel,
    dynamicTop,
    vaBits,
    maxVaBits,
    oaBits,
    pgsizes: mockHuge ? [12, 20] : pgsizes,
    levelOfLg2: mockHuge ? hugeLevels(levelOfLg2) : levelOfLg2,
    maxLeafLevel,
    contigLg2,
    addrScale,
    // AMD v1 sets PT_FEAT_AMDV1_FORCE_COHERENCE at allocation (amd/iommu.c); VT-d turns it on later.
    coherent: cfg.coherent ?? kind === K_AMDV1,
    dirty: cfg.dirty ?? false,
    forceWriteable: cfg.forceWriteable ?? false,
    nonCoherentWalk: cfg.nonCoherentWalk ?? false,
    tablePtrBias: cfg.tablePtrBias ?? 0,
    mockHuge,
    signExtend: kind === K_X86 && (cfg.signExtend ?? false),
  };
}

function hugeLevels(all: Int8Array): Int8Array {
  const r = new Int8Array(64).fill(-1);
  r[12] = all[12] as number;
  r[20] = all[20] as number;
  return r;
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
