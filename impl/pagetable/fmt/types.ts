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
   */
  setProt(prot: number, attrs: Int32Array): number;
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
