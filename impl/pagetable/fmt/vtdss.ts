/**
 * Intel VT-d second-stage page table (VT-d spec 3.7, 9.8).
 *   7.3: drivers/iommu/generic_pt/fmt/vtdss.h
 *   6.12: the PTE code of drivers/iommu/intel/iommu.c (__domain_mapping,
 *         pfn_to_dma_pte) and intel/iommu.h (dma_pte_present, dma_pte_superpage)
 *
 * Bits: R=0 W=1 PS=7 (levels 1..2) A=8 D=9 SNP=11, address 51:12. Tables
 * carry R|W. The two profiles differ:
 *   - a leaf's read bit: 7.3 vtdss_pt_iommu_set_prot sets R only for
 *     IOMMU_READ; 6.12 __domain_mapping ORs DMA_FL_PTE_PRESENT (= bit 0, R)
 *     into every leaf ("attr |= DMA_FL_PTE_PRESENT"), so a write-only map is
 *     readable by the device there (Debian's 6.12.118 does not carry the later
 *     "restore write-only permissions" change);
 *   - decoding: 7.3 vtdss_pt_load_entry_raw treats any non-zero entry as
 *     present and PS only at levels <= 2 (vtdss_pt_can_have_leaf);
 *     6.12 dma_pte_present is (val & 3) and dma_pte_superpage PS at any level.
 */
import {
  ACC_READ,
  ACC_WRITE,
  apertureLastOf,
  leafSizes4K,
  K_VTDSS,
  trimGetInfo,
  addrHi,
  addrLo,
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

export const VTDSS_R = 1 << 0;
export const VTDSS_W = 1 << 1;
export const VTDSS_PS = 1 << 7;
export const VTDSS_A = 1 << 8;
export const VTDSS_D = 1 << 9;
export const VTDSS_SNP = 1 << 11;
const OA_HI_MASK = 0xfffff; // bits 51:32

function oaOf(lo: number, hi: number): number {
  return (hi & OA_HI_MASK) * TWO32 + ((lo & 0xfffff000) >>> 0);
}

/**
 * A class, not a closure per table: every table of this format shares the same
 * method functions, so the table algorithms' call sites stay monomorphic per
 * format however many tables exist.
 */
class VtdssFormat implements PtFormat {
  readonly name = 'vtd-ss';
  readonly granLg2 = 12;
  readonly tableAddrMask = 0x000ffffffffff000n;
  readonly hasCoherenceBit = true;
  readonly hasDirty = true;
  private readonly legacy: boolean;

  constructor(private readonly o: FormatOptions) {
    this.legacy = o.profile === '6.12';
  }

  entryType(lo: number, hi: number, level: number): number {
    if (this.legacy) {
      if ((lo & 3) === 0) return PT_ENTRY_EMPTY;
      return level === 0 || (lo & VTDSS_PS) !== 0 ? PT_ENTRY_OA : PT_ENTRY_TABLE;
    }
    if (lo === 0 && hi === 0) return PT_ENTRY_EMPTY;
    return level === 0 || (level <= 2 && (lo & VTDSS_PS) !== 0) ? PT_ENTRY_OA : PT_ENTRY_TABLE;
  }

  tablePa(lo: number, hi: number): number {
    return oaOf(lo, hi);
  }

  leafOa(lo: number, hi: number): number {
    return oaOf(lo, hi);
  }

  contigLg2(): number {
    return 0;
  }

  writeTable(u32: Uint32Array, w: number, _level: number, childPa: number): void {
    u32[w] = addrLo(childPa) | VTDSS_R | VTDSS_W;
    u32[w + 1] = addrHi(childPa) & 0xfffff;
  }

  setProt(prot: number, attrs: Int32Array, coherent: boolean): number {
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return -EINVAL;
    let lo = 0;
    if (prot & IOMMU_READ) lo |= VTDSS_R;
    if (prot & IOMMU_WRITE) lo |= VTDSS_W;
    if (this.legacy) lo |= VTDSS_R; // __domain_mapping: attr |= DMA_FL_PTE_PRESENT
    if (coherent) lo |= VTDSS_SNP;
    if (this.o.forceWriteable && !(prot & IOMMU_WRITE)) return -EINVAL;
    attrs[0] = lo;
    attrs[1] = 0;
    return 0;
  }

  writeLeaves(u32: Uint32Array, w: number, n: number, oa: number, oaszLg2: number, _itemLg2: number, level: number, aLo: number, aHi: number): void {
    const lo = aLo | (level !== 0 ? VTDSS_PS : 0);
    const step = 2 ** oaszLg2;
    let a = oa;
    // 7.3 FIELD_PREP(VTDSS_FMT_OA) drops bits above 51; 6.12 ORs the raw pfn << 12 in.
    const hiMask = this.legacy ? 0x1fffff : 0xfffff;
    for (let k = 0; k < n; k++, a += step) {
      // (arithmetic inline: a helper taking the double `a` would box it on every call)
      const alo = a >>> 0;
      u32[w + 2 * k] = lo | alo;
      u32[w + 2 * k + 1] = aHi | (((a - alo) / TWO32) & hiMask);
    }
  }

  isWriteDirty(lo: number): boolean {
    return (lo & VTDSS_D) !== 0;
  }

  makeWriteClean(u32: Uint32Array, w: number): void {
    u32[w] = (u32[w] as number) & ~VTDSS_D;
  }

  makeWriteDirty(u32: Uint32Array, w: number): void {
    u32[w] = (u32[w] as number) | VTDSS_D;
  }

  hwPresent(lo: number): boolean {
    return (lo & (VTDSS_R | VTDSS_W)) !== 0;
  }

  hwPerm(lo: number): number {
    return (lo & VTDSS_R ? ACC_READ : 0) | (lo & VTDSS_W ? ACC_WRITE : 0);
  }

  hwAccess(lo: number, _hi: number, w: number, leaf: boolean, write: boolean, hd: boolean, store: WordStore): boolean {
    // A/D are written only with second-stage A/D enabled in the PASID entry (SSADE).
    if (!hd) return (lo & VTDSS_D) !== 0;
    const n = lo | VTDSS_A | (leaf && write ? VTDSS_D : 0);
    if (n !== lo) store.deviceWrite32(w, n);
    return (n & VTDSS_D) !== 0;
  }

  leafProt(lo: number): number {
    return (lo & VTDSS_R ? IOMMU_READ : 0) | (lo & VTDSS_W ? IOMMU_WRITE : 0);
  }
}

export function vtdssFormat(o: FormatOptions): PtFormat {
  return new VtdssFormat(o);
}

/**
 * Geometry of a VT-d second-stage table: 3, 4 or 5 levels of 9 bits over a
 * 4 KiB granule, 2M / 1G leaves by CAP.SLLPS, OA up to 52 bits
 * (fmt/vtdss.h PT_MAX_OUTPUT_ADDRESS_LG2).
 *   7.3 (generic_pt, fmt/iommu_vtdss.c): hw_max_vasz_lg2 = the unit's width,
 *       pgsize bitmap trimmed by get_info; aperture 0..2^vasz-1.
 *   6.12 (intel/iommu.c paging_domain_alloc): aperture 0..2^gaw-1, gaw the
 *       table's width.
 */
export const vtdssShape: ShapeFn = (cfg, profile, o) => {
  const levels = cfg.levels ?? 4;
  if (levels !== 3 && levels !== 4 && levels !== 5) return 'levels';
  const width = 12 + 9 * levels;
  const oaBits = cfg.oas ?? 52;
  if (oaBits > 52 || oaBits < 32) return 'oas';
  const sizes = leafSizes4K(cfg.pg2M ?? true, cfg.pg1G ?? true);
  const common = { kind: K_VTDSS, fmt: vtdssFormat(o), granLg2: 12, bits: 9, levels, maxTopLevel: levels - 1, topEntries: 512, dynamicTop: false, oaBits, apertureStart: 0n, signExtend: false, mockHuge: false };
  if (profile === '6.12') {
    return { ...common, driver: 'intel-612', maxVaBits: width, vaBits: width, sizes, apertureLast: apertureLastOf(width) } satisfies FormatShape;
  }
  const vasz = cfg.vasz ?? width;
  if (vasz > width || vasz < width - 9) return 'vasz';
  return { ...common, driver: 'generic_pt', maxVaBits: vasz, vaBits: vasz, sizes: trimGetInfo(sizes, vasz, oaBits), apertureLast: apertureLastOf(vasz) } satisfies FormatShape;
};

