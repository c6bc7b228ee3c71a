/**
 * x86-64 4/5-level page table: VT-d first stage, AMD v2 (guest) tables.
 *   7.3: drivers/iommu/generic_pt/fmt/x86_64.h
 *   6.12: intel/iommu.c __domain_mapping / pfn_to_dma_pte with use_first_level
 *
 * Bits: P=0 RW=1 U=2 A=5 D=6 PS=7 (levels 1..2), address 51:12, XD=63.
 * Tables: P|RW|U|A. Leaves: P|U|A, plus RW|D when writable (pre-dirtied so
 * the walker never writes D back). Neither profile sets XD for IOMMU_NOEXEC
 * (x86_64_pt_iommu_set_prot; 6.12 __domain_mapping), and the format defines
 * no write-dirty tracking: x86_64.h has no pt_entry_is_write_dirty, so
 * read_and_clear_dirty is -EOPNOTSUPP (iommu_pt.h).
 */
import {
  ACC_READ,
  ACC_WRITE,
  apertureLastOf,
  leafSizes4K,
  K_X86,
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

export const X86_P = 1 << 0;
export const X86_RW = 1 << 1;
export const X86_U = 1 << 2;
export const X86_A = 1 << 5;
export const X86_D = 1 << 6;
export const X86_PS = 1 << 7;

function oaOf(lo: number, hi: number): number {
  return (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
}

/** A class so every table of the format shares its methods (monomorphic call sites; see vtdss.ts). */
class X86Format implements PtFormat {
  readonly name = 'x86-64';
  readonly granLg2 = 12;
  readonly tableAddrMask = 0x000ffffffffff000n;
  readonly hasCoherenceBit = false;
  readonly hasDirty = false;
  private readonly legacy: boolean;

  constructor(o: FormatOptions) {
    this.legacy = o.profile === '6.12';
  }

  entryType(lo: number, _hi: number, level: number): number {
    if (this.legacy) {
      // 6.12 dma_pte_present: (val & 3); dma_pte_superpage: PS.
      if ((lo & 3) === 0) return PT_ENTRY_EMPTY;
      return level === 0 || (lo & X86_PS) !== 0 ? PT_ENTRY_OA : PT_ENTRY_TABLE;
    }
    if ((lo & X86_P) === 0) return PT_ENTRY_EMPTY;
    return level === 0 || (level <= 2 && (lo & X86_PS) !== 0) ? PT_ENTRY_OA : PT_ENTRY_TABLE;
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
    u32[w] = addrLo(childPa) | X86_P | X86_RW | X86_U | X86_A;
    u32[w + 1] = addrHi(childPa) & 0xfffff;
  }

  setProt(prot: number, attrs: Int32Array): number {
    // x86_64_pt_iommu_set_prot (7.3); 6.12 __domain_mapping: PRESENT | US | ACCESS, RW | DIRTY if writable.
    let lo = X86_U | X86_A;
    if (prot & IOMMU_WRITE) lo |= X86_RW | X86_D;
    attrs[0] = lo;
    attrs[1] = 0;
    return 0;
  }

  writeLeaves(u32: Uint32Array, w: number, n: number, oa: number, oaszLg2: number, _itemLg2: number, level: number, aLo: number, aHi: number): void {
    const lo = aLo | X86_P | (level !== 0 ? X86_PS : 0);
    const step = 2 ** oaszLg2;
    let a = oa;
    // 7.3 FIELD_PREP(X86_64_FMT_OA) drops bits above 51; 6.12 ORs the raw pfn << 12 in.
    const hiMask = this.legacy ? 0x1fffff : 0xfffff;
    for (let k = 0; k < n; k++, a += step) {
      const alo = a >>> 0;
      u32[w + 2 * k] = lo | alo;
      u32[w + 2 * k + 1] = aHi | (((a - alo) / TWO32) & hiMask);
    }
  }

  isWriteDirty(lo: number): boolean {
    return (lo & X86_D) !== 0;
  }

  makeWriteClean(u32: Uint32Array, w: number): void {
    u32[w] = (u32[w] as number) & ~X86_D;
  }

  makeWriteDirty(u32: Uint32Array, w: number): void {
    u32[w] = (u32[w] as number) | X86_D;
  }

  hwPresent(lo: number): boolean {
    return (lo & X86_P) !== 0;
  }

  hwPerm(lo: number): number {
    return ACC_READ | (lo & X86_RW ? ACC_WRITE : 0);
  }

  hwAccess(lo: number, _hi: number, w: number, leaf: boolean, write: boolean, _hd: boolean, store: WordStore): boolean {
    // First-stage A/D are always maintained by the hardware.
    const n = lo | X86_A | (leaf && write ? X86_D : 0);
    if (n !== lo) store.deviceWrite32(w, n);
    return (n & X86_D) !== 0;
  }

  leafProt(lo: number): number {
    return IOMMU_READ | (lo & X86_RW ? IOMMU_WRITE : 0);
  }
}

export function x86Format(o: FormatOptions): PtFormat {
  return new X86Format(o);
}

/**
 * Geometry of an x86-64 table: 4 or 5 levels of 9 bits over 4 KiB, 2M / 1G
 * leaves, OA up to 52 bits (fmt/x86_64.h).
 *   7.3 (generic_pt, fmt/iommu_x86_64.c): hw_max_vasz_lg2 counts the sign bit
 *       when the VA is sign-extended (VT-d first stage); pt_iommu_init_domain
 *       gives the lower range as the aperture.
 *   6.12 (intel/iommu.c paging_domain_alloc): the first stage skips bit gaw-1.
 */
export const x86Shape: ShapeFn = (cfg, profile, o) => {
  const levels = cfg.levels ?? 4;
  if (levels !== 4 && levels !== 5) return 'levels';
  const width = 12 + 9 * levels;
  const oaBits = cfg.oas ?? 52;
  if (oaBits > 52 || oaBits < 32) return 'oas';
  const sizes = leafSizes4K(cfg.pg2M ?? true, cfg.pg1G ?? true);
  const common = { kind: K_X86, fmt: x86Format(o), granLg2: 12, bits: 9, levels, maxTopLevel: levels - 1, topEntries: 512, dynamicTop: false, oaBits, apertureStart: 0n, mockHuge: false };
  if (profile === '6.12') {
    return { ...common, driver: 'intel-612', maxVaBits: width, vaBits: width, sizes, apertureLast: apertureLastOf(width - 1), signExtend: false } satisfies FormatShape;
  }
  const signExtend = cfg.signExtend ?? false;
  const vasz = cfg.vasz ?? width;
  if (vasz > width || vasz < width - 9) return 'vasz';
  return {
    ...common, driver: 'generic_pt', maxVaBits: vasz, vaBits: vasz, sizes: trimGetInfo(sizes, vasz, oaBits),
    apertureLast: apertureLastOf(signExtend ? vasz - 1 : vasz), signExtend,
  } satisfies FormatShape;
};
