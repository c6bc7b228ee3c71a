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
  addrHi,
  addrLo,
  IOMMU_READ,
  IOMMU_WRITE,
  PT_ENTRY_EMPTY,
  PT_ENTRY_OA,
  PT_ENTRY_TABLE,
  TWO32,
  type FormatOptions,
  type PtFormat,
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
