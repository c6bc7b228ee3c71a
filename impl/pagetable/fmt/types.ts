/**
 * The entry operations every page-table format provides, after generic_pt's
 * per-format headers (drivers/iommu/generic_pt/fmt/*.h: pt_load_entry_raw,
 * pt_table_pa, pt_entry_oa, pt_entry_num_contig_lg2, pt_install_leaf_entry,
 * pt_install_table, pt_iommu_set_prot, the dirty helpers) plus what the
 * simulated IOMMU's walker needs to read an entry as hardware does.
 *
 * Entries are little-endian 64-bit words stored as two u32 (`lo`, `hi`) in
 * simulated physical memory; `w` is the index of the low word in a Uint32Array
 * over that memory. Addresses are numbers (exact below 2^53).
 *
 * One format object per table (formats carry the table's features and
 * profile); every format object has the same shape, so the table algorithms
 * (table.ts and the driver modules) see one hidden class.
 *
 * Each format module also gives the table's geometry (FormatShape: levels,
 * index bits, page sizes, VA/OA limits, aperture) from a FormatConfig, as the
 * profile's driver computes it; format.ts only assembles the result.
 */

/** pt_load_entry_raw results (enum pt_entry_type). */
export const PT_ENTRY_EMPTY = 0;
export const PT_ENTRY_TABLE = 1;
export const PT_ENTRY_OA = 2;

export const TWO32 = 4294967296;

/** IOMMU_* prot bits (include/linux/iommu.h). */
export const IOMMU_READ = 1;
export const IOMMU_WRITE = 2;
export const IOMMU_CACHE = 4;
export const IOMMU_NOEXEC = 8;
export const IOMMU_MMIO = 16;
export const IOMMU_PRIV = 32;

/** Hardware access kinds of the walker. */
export const ACC_READ = 1;
export const ACC_WRITE = 2;

export interface PtFormat {
  /** Format name (also FormatConfig.format). */
  readonly name: string;
  /** log2 of the smallest translation granule (PT_GRANULE_LG2SZ). */
  readonly granLg2: number;
  /** Address bits of a table pointer entry (canonical dumps clear them). Not used on hot paths. */
  readonly tableAddrMask: bigint;
  /** Leaves can carry a snoop / force-coherent bit (VT-d SNP, AMD v1 FC): enforce_cache_coherency can work. */
  readonly hasCoherenceBit: boolean;

  /** pt_load_entry_raw: PT_ENTRY_EMPTY / PT_ENTRY_TABLE / PT_ENTRY_OA for an entry at `level`. */
  entryType(lo: number, hi: number, level: number): number;
  /** pt_table_pa: the child table's address. */
  tablePa(lo: number, hi: number): number;
  /** pt_entry_oa: output address of the start of the leaf (the whole contiguous run). */
  leafOa(lo: number, hi: number, level: number): number;
  /** pt_entry_num_contig_lg2: log2 of the entries this leaf spans (0 = one). */
  contigLg2(lo: number, hi: number, level: number): number;
  /** pt_install_table: write a table pointer to `childPa` into the entry at word `w` of a table at `level`. */
  writeTable(u32: Uint32Array, w: number, level: number, childPa: number): void;
  /**
   * pt_iommu_set_prot: leaf attributes for `prot` into attrs[0] (lo) and
   * attrs[1] (hi). Returns 0 or -errno (the format refuses the prot).
   * `coherent` is the table's own PT_FEAT_*_FORCE_COHERENCE: a table turns
   * it on (enforce_cache_coherency) while others of its format stay as made.
   */
  setProt(prot: number, attrs: Int32Array, coherent: boolean): number;
  /**
   * pt_install_leaf_entry, `n` times: leaves of 2^oaszLg2 bytes at a table of
   * `level` (item 2^itemLg2) from word `w`, OA `oa` increasing by the leaf
   * size, attributes aLo/aHi. A leaf larger than the item writes its
   * 2^(oaszLg2 - itemLg2) entries (AMD replicated NextLevel=7 entries).
   */
  writeLeaves(u32: Uint32Array, w: number, n: number, oa: number, oaszLg2: number, itemLg2: number, level: number, aLo: number, aHi: number): void;

  /** The format defines write-dirty tracking (pt_entry_is_write_dirty); else read_and_clear_dirty is -EOPNOTSUPP. */
  readonly hasDirty: boolean;
  /** pt_entry_is_write_dirty for one entry word. */
  isWriteDirty(lo: number, hi: number): boolean;
  /** pt_entry_make_write_clean for one entry word. */
  makeWriteClean(u32: Uint32Array, w: number): void;
  /** pt_entry_make_write_dirty (the selftest's set_dirty / what the HW does). */
  makeWriteDirty(u32: Uint32Array, w: number): void;

  // ---- what the IOMMU hardware reads (impl/iommu/walker.ts) ----
  /** The walker sees a valid entry (VT-d: R or W set; others: the present/valid bit). */
  hwPresent(lo: number, hi: number): boolean;
  /** ACC_READ | ACC_WRITE this entry grants (tables: what it lets through; ANDed down the walk). `hd` = HW dirty update on. */
  hwPerm(lo: number, hi: number, leaf: boolean, hd: boolean): number;
  /**
   * Accessed/dirty update of the hardware for an access through the entry at
   * word `w` (`write` on a leaf sets dirty). Writes the low word through `store`.
   * Returns whether the leaf is write-dirty afterwards.
   */
  hwAccess(lo: number, hi: number, w: number, leaf: boolean, write: boolean, hd: boolean, store: WordStore): boolean;
  /** IOMMU_READ/WRITE (and CACHE/NOEXEC where encoded) a device gets through a leaf (lookupLeaf). */
  leafProt(lo: number, hi: number): number;
}

/** Where the walker's accessed/dirty updates land (PhysMemory.deviceWrite32). */
export interface WordStore {
  deviceWrite32(wordIndex: number, value: number): void;
}

/** Options a format instance is made with (FormatConfig, resolved); `coherent` may be switched on later. */
export interface FormatOptions {
  readonly profile: '6.12' | '7.3';
  /** VT-d SNP / AMD FC on every leaf (PT_FEAT_*_FORCE_COHERENCE); enforce_cache_coherency sets it before the first map. */
  coherent: boolean;
  /** PT_FEAT_VTDSS_FORCE_WRITEABLE / 6.12 nested_parent: read-only maps refused. */
  readonly forceWriteable: boolean;
  /** Arm stage 1 IO_PGTABLE_QUIRK_ARM_HD: writable leaves carry DBM. */
  readonly armHd: boolean;
}

/** lo/hi words of an address stored at bit 12 and up (bits 51:12, already granule-aligned). */
export function addrLo(a: number): number {
  return a >>> 0;
}
export function addrHi(a: number): number {
  return (a - (a >>> 0)) / TWO32;
}

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


/**
 * What a format module computes for a config (the per-format part of
 * PtGeometry; format.ts makeGeometry derives the per-level arrays from it).
 */
export interface FormatShape {
  kind: number;
  driver: PtDriver;
  fmt: PtFormat;
  granLg2: number;
  /** Index bits per level. */
  bits: number;
  /** Levels of the table as allocated (top level = levels - 1). */
  levels: number;
  maxTopLevel: number;
  /** Entries of the top table (short top / concatenated S2 root). */
  topEntries: number;
  dynamicTop: boolean;
  maxVaBits: number;
  vaBits: number;
  oaBits: number;
  /** [lg2 of a leaf size, the level holding it]. */
  sizes: [number, number][];
  apertureStart: bigint;
  apertureLast: bigint;
  signExtend: boolean;
  mockHuge: boolean;
}

/** A format module's geometry: the shape, or the name of the config field it refuses. */
export type ShapeFn = (cfg: FormatConfig, profile: '6.12' | '7.3', o: FormatOptions) => FormatShape | string;

/** generic_pt get_info: log2_mod(bitmap, max_vasz - 1), then oalog2_mod(…, max_oasz). */
export function trimGetInfo(sizes: [number, number][], maxVasz: number, oasz: number): [number, number][] {
  return sizes.filter(([l]) => l < maxVasz - 1 && l < oasz);
}

/** The last address of a 2^bits aperture (bits may be 64). */
export function apertureLastOf(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/** 4K-granule 9-bit formats (VT-d SS, x86-64): 4K always; 2M and 1G leaves (levels 1, 2) as the unit's superpage capabilities allow. */
export function leafSizes4K(pg2M: boolean, pg1G: boolean): [number, number][] {
  const sizes: [number, number][] = [[12, 0]];
  if (pg2M) sizes.push([21, 1]);
  if (pg1G) sizes.push([30, 2]);
  return sizes;
}
