/**
 * Arm VMSAv8-64 long-descriptor ("LPAE") stage 1 and stage 2, as
 * drivers/iommu/io-pgtable-arm.c writes them (same in 6.12 and 7.3).
 *
 * Common: valid=0, table/page=1 (type 3 = table above the last level, page at
 * it; 1 = block), AF=10, SH 9:8, OA 47:12 (with the 64K granule OA 51:48 is
 * packed into bits 15:12, paddr_to_iopte), DBM=51, XN = 3 << 53.
 * arm_lpae_prot_to_pte:
 *   stage 1: nG=11; AP[2] (bit 7, read-only) for read-only maps, else DBM
 *            with IO_PGTABLE_QUIRK_ARM_HD; AP[1] (bit 6, unprivileged) unless
 *            IOMMU_PRIV; AttrIndx 4:2 = 2 (device) for IOMMU_MMIO, 1 (cacheable)
 *            for IOMMU_CACHE, else 0 (non-cacheable);
 *   stage 2: S2AP read=6 write=7; MemAttr 5:2 = 0x1 device (IOMMU_MMIO), 0xf
 *            outer/inner write-back (IOMMU_CACHE), else 0x5 non-cacheable;
 *   both: SH inner shareable (3) with IOMMU_CACHE, else outer shareable (2);
 *         XN (both bits 53 and 54) for IOMMU_NOEXEC; AF always.
 * The kernel has no contiguous-hint encoding and no stage-2 dirty tracking;
 * stage-1 dirty tracking (DBM) is IO_PGTABLE_QUIRK_ARM_HD: a leaf is
 * write-dirty when DBM is set and AP[2] clear (iopte_writeable_dirty), made
 * clean by setting AP[2]; the SMMU's HTTU clears AP[2] on a write.
 */
import {
  ACC_READ,
  ACC_WRITE,
  apertureLastOf,
  K_ARM_S1,
  K_ARM_S2,
  IOMMU_CACHE,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_WRITE,
  PT_ENTRY_EMPTY,
  PT_ENTRY_OA,
  PT_ENTRY_TABLE,
  TWO32,
  type FormatOptions,
  type FormatShape,
  type PtFormat,
  type ShapeFn,
  type WordStore,
} from './types.ts';
import { EINVAL } from '../../lib/errno.ts';

export const ARM_TYPE_TABLE = 3;
export const ARM_TYPE_PAGE = 3;
export const ARM_TYPE_BLOCK = 1;
export const ARM_AF = 1 << 10;
export const ARM_SH_OS = 2 << 8;
export const ARM_SH_IS = 3 << 8;
export const ARM_NG = 1 << 11;
export const ARM_AP_UNPRIV = 1 << 6;
export const ARM_AP_RDONLY = 1 << 7;
export const ARM_HAP_READ = 1 << 6;
export const ARM_HAP_WRITE = 1 << 7;
export const ARM_ATTRINDX_SHIFT = 2;
export const ARM_MAIR_IDX_CACHE = 1;
export const ARM_MAIR_IDX_DEV = 2;
export const ARM_MEMATTR_OIWB = 0xf << 2;
export const ARM_MEMATTR_NC = 0x5 << 2;
export const ARM_MEMATTR_DEV = 0x1 << 2;
/** hi-word bits */
export const ARM_DBM_HI = 1 << (51 - 32);
export const ARM_XN_HI = 3 << (53 - 32);

/** paddr_to_iopte, low word: (pa | pa >> 36) & GENMASK(47, 12) (OA 52:48 land in bits 16:12, for every granule). */
function oaLo(a: number): number {
  return (((a >>> 0) & 0xfffff000) | (Math.floor(a / 2 ** 36) & 0x1f000)) >>> 0;
}

function oaHi(a: number): number {
  return Math.floor(a / TWO32) & 0xffff;
}

/** A class so every table of the format shares its methods (monomorphic call sites; see vtdss.ts). */
class ArmFormat implements PtFormat {
  readonly name: string;
  readonly tableAddrMask = 0x0000fffffffff000n;
  readonly hasCoherenceBit = false;
  /** Stage-1 DBM dirty tracking (IO_PGTABLE_QUIRK_ARM_HD). */
  readonly hasDirty: boolean;
  private readonly g64: boolean;

  constructor(
    o: FormatOptions,
    private readonly stage: 1 | 2,
    readonly granLg2: number,
  ) {
    this.name = stage === 1 ? 'arm-s1' : 'arm-s2';
    this.g64 = granLg2 === 16;
    this.hasDirty = stage === 1 && o.armHd;
  }

  entryType(lo: number, hi: number, level: number): number {
    if (lo === 0 && hi === 0) return PT_ENTRY_EMPTY;
    // iopte_leaf: a page at the last level, a block (type 1) above it; anything else non-zero is a table.
    if (level === 0) return PT_ENTRY_OA;
    return (lo & 3) === ARM_TYPE_BLOCK ? PT_ENTRY_OA : PT_ENTRY_TABLE;
  }

  /** iopte_to_paddr: bits 47:12; with the 64K granule bits 15:12 hold OA 51:48. */
  tablePa(lo: number, hi: number): number {
    if (this.g64) {
      const top = (lo >>> 12) & 0xf;
      return ((hi & 0xffff) + top * 65536) * TWO32 + ((lo & 0xffff0000) >>> 0);
    }
    return (hi & 0xffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
  }

  leafOa(lo: number, hi: number): number {
    return this.tablePa(lo, hi);
  }

  contigLg2(): number {
    return 0;
  }

  writeTable(u32: Uint32Array, w: number, _level: number, childPa: number): void {
    u32[w] = (oaLo(childPa) | ARM_TYPE_TABLE) >>> 0;
    u32[w + 1] = oaHi(childPa);
  }

  setProt(prot: number, attrs: Int32Array): number {
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return -EINVAL;
    let lo = 0;
    let hi = 0;
    if (this.stage === 1) {
      lo |= ARM_NG;
      if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) lo |= ARM_AP_RDONLY;
      else if (this.hasDirty) hi |= ARM_DBM_HI;
      if (!(prot & IOMMU_PRIV)) lo |= ARM_AP_UNPRIV;
      if (prot & IOMMU_MMIO) lo |= ARM_MAIR_IDX_DEV << ARM_ATTRINDX_SHIFT;
      else if (prot & IOMMU_CACHE) lo |= ARM_MAIR_IDX_CACHE << ARM_ATTRINDX_SHIFT;
    } else {
      if (prot & IOMMU_READ) lo |= ARM_HAP_READ;
      if (prot & IOMMU_WRITE) lo |= ARM_HAP_WRITE;
      if (prot & IOMMU_MMIO) lo |= ARM_MEMATTR_DEV;
      else if (prot & IOMMU_CACHE) lo |= ARM_MEMATTR_OIWB;
      else lo |= ARM_MEMATTR_NC;
    }
    lo |= prot & IOMMU_CACHE ? ARM_SH_IS : ARM_SH_OS;
    if (prot & IOMMU_NOEXEC) hi |= ARM_XN_HI;
    lo |= ARM_AF;
    attrs[0] = lo;
    attrs[1] = hi;
    return 0;
  }

  writeLeaves(u32: Uint32Array, w: number, n: number, oa: number, oaszLg2: number, _itemLg2: number, level: number, aLo: number, aHi: number): void {
    // __arm_lpae_init_pte: one entry per leaf, page type at the last level.
    const lo = aLo | (level === 0 ? ARM_TYPE_PAGE : ARM_TYPE_BLOCK);
    const step = 2 ** oaszLg2;
    let a = oa;
    if (a + n * step <= 2 ** 48) {
      // Below 2^48 paddr_to_iopte is the identity (arithmetic inline: no boxing of `a`).
      for (let k = 0; k < n; k++, a += step) {
        const alo = a >>> 0;
        u32[w + 2 * k] = lo | alo;
        u32[w + 2 * k + 1] = aHi | ((a - alo) / TWO32);
      }
      return;
    }
    for (let k = 0; k < n; k++, a += step) {
      u32[w + 2 * k] = (lo | oaLo(a)) >>> 0;
      u32[w + 2 * k + 1] = aHi | oaHi(a);
    }
  }

  /** iopte_writeable_dirty: (pte & (AP_RDONLY | DBM)) == DBM */
  isWriteDirty(lo: number, hi: number): boolean {
    return (hi & ARM_DBM_HI) !== 0 && (lo & ARM_AP_RDONLY) === 0;
  }

  makeWriteClean(u32: Uint32Array, w: number): void {
    u32[w] = ((u32[w] as number) | ARM_AP_RDONLY) >>> 0;
  }

  makeWriteDirty(u32: Uint32Array, w: number): void {
    u32[w] = ((u32[w] as number) & ~ARM_AP_RDONLY) >>> 0;
  }

  hwPresent(lo: number): boolean {
    return (lo & 1) !== 0;
  }

  hwPerm(lo: number, hi: number, leaf: boolean, hwDirty: boolean): number {
    if (!leaf) return ACC_READ | ACC_WRITE;
    if (this.stage === 1) {
      // AP[2] read-only, unless DBM lets the SMMU (HTTU) clear it on a write.
      const dbm = (hi & ARM_DBM_HI) !== 0;
      return ACC_READ | (!(lo & ARM_AP_RDONLY) || (dbm && hwDirty) ? ACC_WRITE : 0);
    }
    return (lo & ARM_HAP_READ ? ACC_READ : 0) | (lo & ARM_HAP_WRITE ? ACC_WRITE : 0);
  }

  hwAccess(lo: number, hi: number, w: number, leaf: boolean, write: boolean, hwDirty: boolean, store: WordStore): boolean {
    if (!leaf || this.stage !== 1) return false;
    const dbm = (hi & ARM_DBM_HI) !== 0;
    let n = lo;
    if (write && dbm && hwDirty && lo & ARM_AP_RDONLY) {
      n = (lo & ~ARM_AP_RDONLY) >>> 0;
      store.deviceWrite32(w, n);
    }
    return dbm && (n & ARM_AP_RDONLY) === 0;
  }

  leafProt(lo: number, hi: number): number {
    let p = 0;
    if (this.stage === 1) {
      p = IOMMU_READ;
      if (!(lo & ARM_AP_RDONLY) || hi & ARM_DBM_HI) p |= IOMMU_WRITE;
      if (((lo >>> ARM_ATTRINDX_SHIFT) & 7) === ARM_MAIR_IDX_CACHE) p |= IOMMU_CACHE;
    } else {
      if (lo & ARM_HAP_READ) p |= IOMMU_READ;
      if (lo & ARM_HAP_WRITE) p |= IOMMU_WRITE;
      if ((lo & (0xf << 2)) === ARM_MEMATTR_OIWB) p |= IOMMU_CACHE;
    }
    if (((hi & ARM_XN_HI) >>> 0) === ARM_XN_HI >>> 0) p |= IOMMU_NOEXEC;
    return p;
  }
}

export function armFormat(o: FormatOptions, stage: 1 | 2, granLg2: number): PtFormat {
  return new ArmFormat(o, stage, granLg2);
}

/** TCR/VTCR.PS has encodings for these output sizes only (arm_64_lpae_alloc_pgtable_s1/_s2). */
const ARM_OAS = [32, 36, 40, 42, 44, 48, 52];

/**
 * Geometry of an io-pgtable-arm table (same driver in both profiles, the
 * stage-2 root concatenation aside): granule 4K / 16K / 64K, granule - 3 bits
 * a level; arm_lpae_restrict_pgsizes gives the block sizes (4T only with the
 * 64K granule and oas > 48); IA/OA up to 48 bits, 52 with the 64K granule.
 * Stage 2 concatenates the root: 6.12 arm_64_lpae_alloc_pgtable_s2 whenever
 * start_level is 0 and the pgd has <= 16 entries; 7.3
 * arm_lpae_concat_mandatory (Arm DDI0487 R_DXBSH, R_SRKBC).
 */
export const armShape = (stage: 1 | 2): ShapeFn => (cfg, profile, o) => {
  const g = cfg.granule ?? 4096;
  if (g !== 4096 && g !== 16384 && g !== 65536) return 'granule';
  const granLg2 = g === 4096 ? 12 : g === 16384 ? 14 : 16;
  const bits = granLg2 - 3;
  const maxAddr = g === 65536 ? 52 : 48;
  const reqOas = cfg.oas ?? 48;
  const reqIas = cfg.ias ?? 48;
  if (reqIas > 52) return 'ias';
  if (reqOas > 52) return 'oas';
  const ias = Math.min(reqIas, maxAddr);
  const oas = Math.min(reqOas, maxAddr);
  if (!ARM_OAS.includes(oas)) return 'oas';
  if (ias <= granLg2) return 'ias';
  let levels = Math.ceil((ias - granLg2) / bits);
  const startLevel = 4 - levels;
  let pgdBits = ias - granLg2 - bits * (levels - 1);
  if (stage === 2) {
    let concat: boolean;
    if (profile === '6.12') {
      concat = startLevel === 0 && 2 ** pgdBits <= 16;
    } else {
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
    kind: stage === 1 ? K_ARM_S1 : K_ARM_S2, driver: 'io-pgtable-arm', fmt: armFormat(o, stage, granLg2), granLg2, bits, levels,
    maxTopLevel: levels - 1, topEntries: 2 ** pgdBits, dynamicTop: false, maxVaBits: ias, vaBits: ias, oaBits: oas, sizes,
    apertureStart: 0n, apertureLast: apertureLastOf(ias), signExtend: false, mockHuge: false,
  } satisfies FormatShape;
};
