/**
 * AMD IOMMU v1 host page table (AMD IOMMU spec 2.2.3), and the iommufd
 * selftest's variant of it (2 KiB granule, AMDV1_IOMMUFD_SELFTEST).
 *   7.3: drivers/iommu/generic_pt/fmt/amdv1.h (fmt/iommu_amdv1.c, fmt/iommu_mock.c)
 *   6.12: drivers/iommu/amd/io_pgtable.c with amd_iommu_types.h
 *
 * Bits: PR=0 A=5 D=6 NextLevel=11:9 OA=51:12 (in granule units) FC=60 IR=61
 * IW=62. Tables: PR | NextLevel = the entry's own level | IR | IW. Leaves:
 * NextLevel 0 for a leaf of the item size; NextLevel 7 for larger powers of
 * two, the size encoded as a run of ones in the low OA bits
 * (amdv1pt_install_leaf_entry; 6.12 PAGE_SIZE_PTE) and the same value
 * replicated in every entry it covers. FC: 7.3 PT_FEAT_AMDV1_FORCE_COHERENCE
 * (forced on for AMD v1, not supported by the mock); 6.12 iommu_v1_map_pages
 * sets IOMMU_PTE_FC on every leaf.
 */
import {
  ACC_READ,
  ACC_WRITE,
  apertureLastOf,
  K_AMDV1,
  K_MOCK,
  trimGetInfo,
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

export const AMD_PR = 1 << 0;
export const AMD_A = 1 << 5;
export const AMD_D = 1 << 6;
export const AMD_NL_SHIFT = 9;
/** hi-word bits */
export const AMD_FC_HI = 1 << (60 - 32);
export const AMD_IR_HI = 1 << (61 - 32);
export const AMD_IW_HI = 1 << (62 - 32);
const NL_SIZE = 7;

/** The OA field (bits 51:12) as a number of granules. */
function field(lo: number, hi: number): number {
  return (hi & 0xfffff) * 1048576 + (lo >>> 12);
}

/** Number of trailing one bits of a non-negative integer below 2^53. */
function trailingOnes(x: number): number {
  let n = 0;
  while (x % 2 === 1) {
    n++;
    x = (x - 1) / 2;
  }
  return n;
}

/** A class so every table of the format shares its methods (monomorphic call sites; see vtdss.ts). */
class Amdv1Format implements PtFormat {
  readonly name: string;
  readonly granLg2: number;
  readonly tableAddrMask = 0x000ffffffffff000n;
  /** PT_FEAT_AMDV1_FORCE_COHERENCE is not among the mock's features. */
  readonly hasCoherenceBit: boolean;
  readonly hasDirty = true;
  private readonly legacy: boolean;
  private readonly gran: number;

  constructor(
    private readonly o: FormatOptions,
    private readonly mock: boolean,
  ) {
    this.name = mock ? 'mock-amdv1' : 'amd-v1';
    this.legacy = o.profile === '6.12' && !mock;
    this.granLg2 = mock ? 11 : 12;
    this.gran = 2 ** this.granLg2;
    this.hasCoherenceBit = !mock;
  }

  entryType(lo: number, _hi: number, level: number): number {
    if ((lo & AMD_PR) === 0) return PT_ENTRY_EMPTY;
    const nl = (lo >>> AMD_NL_SHIFT) & 7;
    return level === 0 || nl === 0 || nl === NL_SIZE ? PT_ENTRY_OA : PT_ENTRY_TABLE;
  }

  tablePa(lo: number, hi: number): number {
    return field(lo, hi) * this.gran;
  }

  leafOa(lo: number, hi: number): number {
    let f = field(lo, hi);
    if (((lo >>> AMD_NL_SHIFT) & 7) === NL_SIZE) {
      // amdv1pt_entry_oa: clear the run of ones (the size code).
      const ones = trailingOnes(f);
      f -= 2 ** ones - 1;
    }
    return f * this.gran;
  }

  contigLg2(lo: number, hi: number, level: number): number {
    if (((lo >>> AMD_NL_SHIFT) & 7) !== NL_SIZE) return 0;
    // amdv1pt_entry_num_contig_lg2: ffz(entry >> (12 - 1 + item_lg2 - granule)). The
    // bit below the field's level-aligned part is NextLevel's top bit (level 0) or a
    // one of the size code; the ones above count the replicated entries.
    const f = field(lo, hi);
    return level === 0 ? trailingOnes(f) + 1 : trailingOnes(Math.floor(f / 2 ** (9 * level - 1)));
  }

  writeTable(u32: Uint32Array, w: number, level: number, childPa: number): void {
    const f = childPa / this.gran;
    const f20 = (f >>> 0) & 0xfffff;
    u32[w] = ((f20 << 12) | AMD_PR | (level << AMD_NL_SHIFT)) >>> 0;
    u32[w + 1] = (((f - f20) / 1048576) & 0xfffff) | AMD_IR_HI | AMD_IW_HI;
  }

  setProt(prot: number, attrs: Int32Array, coherent: boolean): number {
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return -EINVAL;
    let hi = 0;
    // 6.12 sets FC on every leaf; 7.3 by the FORCE_COHERENCE feature (never for the mock).
    if (!this.mock && (this.o.profile === '6.12' || coherent)) hi |= AMD_FC_HI;
    if (prot & IOMMU_READ) hi |= AMD_IR_HI;
    if (prot & IOMMU_WRITE) hi |= AMD_IW_HI;
    attrs[0] = 0;
    attrs[1] = hi;
    return 0;
  }

  writeLeaves(u32: Uint32Array, w: number, n: number, oa: number, oaszLg2: number, itemLg2: number, _level: number, aLo: number, aHi: number): void {
    const rep = 2 ** (oaszLg2 - itemLg2);
    const leafSize = 2 ** oaszLg2;
    // NextLevel=7: the OA field ORed with 2^(oasz - granule - 1) - 1 (the size code).
    const code = rep > 1 ? 2 ** (oaszLg2 - this.granLg2 - 1) - 1 : 0;
    const nl = rep > 1 ? NL_SIZE << AMD_NL_SHIFT : 0;
    let f = oa / this.gran;
    const fstep = leafSize / this.gran;
    // 7.3 FIELD_PREP(AMDV1PT_FMT_OA) drops bits above 51, as 6.12's PAGE_SIZE_PTE (& PM_ADDR_MASK)
    // does for replicated leaves; a 6.12 leaf of the item size is paddr | PR | FC, unmasked.
    const hiMask = rep === 1 && this.legacy ? 0x1fffff : 0xfffff;
    const loBits = AMD_PR | nl | aLo;
    if (rep === 1) {
      // A leaf of the item size: one entry each, no size code.
      for (let k = 0; k < n; k++, f += fstep) {
        const v20 = (f >>> 0) & 0xfffff;
        u32[w + 2 * k] = ((v20 << 12) | loBits) >>> 0;
        u32[w + 2 * k + 1] = (((f - v20) / 1048576) & hiMask) | aHi;
      }
      return;
    }
    for (let k = 0; k < n; k++, f += fstep) {
      // integer arithmetic only (v < 2^41): low 20 bits of the field into bits 31:12, the rest into hi
      const v = f + code;
      const v20 = (v >>> 0) & 0xfffff;
      const lo = ((v20 << 12) | loBits) >>> 0;
      const hi = (((v - v20) / 1048576) & hiMask) | aHi;
      const base = w + 2 * k * rep;
      for (let r = 0; r < rep; r++) {
        u32[base + 2 * r] = lo;
        u32[base + 2 * r + 1] = hi;
      }
    }
  }

  isWriteDirty(lo: number): boolean {
    return (lo & AMD_D) !== 0;
  }

  makeWriteClean(u32: Uint32Array, w: number): void {
    u32[w] = ((u32[w] as number) & ~AMD_D) >>> 0;
  }

  makeWriteDirty(u32: Uint32Array, w: number): void {
    u32[w] = ((u32[w] as number) | AMD_D) >>> 0;
  }

  hwPresent(lo: number): boolean {
    return (lo & AMD_PR) !== 0;
  }

  hwPerm(_lo: number, hi: number): number {
    return (hi & AMD_IR_HI ? ACC_READ : 0) | (hi & AMD_IW_HI ? ACC_WRITE : 0);
  }

  hwAccess(lo: number, _hi: number, w: number, leaf: boolean, write: boolean, hd: boolean, store: WordStore): boolean {
    // A and D are written only when the DTE enables HA/HD (dirty tracking).
    if (!hd) return (lo & AMD_D) !== 0;
    const n = (lo | AMD_A | (leaf && write ? AMD_D : 0)) >>> 0;
    if (n !== lo) store.deviceWrite32(w, n);
    return (n & AMD_D) !== 0;
  }

  leafProt(_lo: number, hi: number): number {
    return (hi & AMD_IR_HI ? IOMMU_READ : 0) | (hi & AMD_IW_HI ? IOMMU_WRITE : 0);
  }
}

export function amdv1Format(o: FormatOptions, mock: boolean): PtFormat {
  return new Amdv1Format(o, mock);
}

export { TWO32 };

/** amdv1pt_possible_sizes: item .. item*256 at a level (never a whole table), up to 2^51, never 512 GiB. */
function possibleSizes(granLg2: number, level: number): [number, number][] {
  const out: [number, number][] = [];
  const isz = granLg2 + 9 * level;
  for (let s = isz; s <= Math.min(51, isz + 8); s++) if (s !== 39) out.push([s, level]);
  return out;
}

/**
 * Geometry of an AMD v1 table (and the selftest mock's): 9 bits a level, top
 * level up to 5 (mock 4), OA up to 52 bits (mock 51).
 *   7.3 amdv1pt_iommu_fmt_init: AMD v1 always has DYNAMIC_TOP
 *       (PT_FORCE_ENABLED_FEATURES, fmt/iommu_amdv1.c); the mock
 *       (PT_SUPPORTED_FEATURES 0) starts at level 2 with max_vasz = granule +
 *       9 * 3; sizes trimmed by get_info; MOCK_IOMMUPT_HUGE keeps 1M | 4K.
 *   6.12 amd/io_pgtable.c v1_alloc_pgtable: 3-level mode, grown by
 *       increase_address_space up to 6; pgsize_bitmap AMD_IOMMU_PGSIZES
 *       (GENMASK(51, 12) ^ SZ_512G); aperture 0..~0 (dma_max_address).
 */
export const amdv1Shape = (mock: boolean): ShapeFn => (cfg, profile, o) => {
  const fmt = amdv1Format(o, mock);
  const granLg2 = mock ? 11 : 12;
  const maxOa = mock ? 51 : 52;
  const oaBits = Math.min(cfg.oas ?? maxOa, maxOa);
  if (oaBits < 32) return 'oas';
  const maxTopLevel = mock ? 4 : 5;
  if (profile === '6.12' && !mock) {
    const sizes: [number, number][] = [];
    for (let l = 0; l <= 4; l++) sizes.push(...possibleSizes(granLg2, l));
    const levels = cfg.levels ?? 3;
    if (levels < 1 || levels > 6) return 'levels';
    return {
      kind: K_AMDV1, driver: 'amd-612', fmt, granLg2, bits: 9, levels, maxTopLevel: 5, topEntries: 512,
      dynamicTop: true, maxVaBits: 64, vaBits: Math.min(64, 12 + 9 * levels), oaBits, sizes,
      apertureStart: 0n, apertureLast: apertureLastOf(64), signExtend: false, mockHuge: false,
    } satisfies FormatShape;
  }
  const levels = mock ? 3 : (cfg.levels ?? 3);
  if (levels < 2 || levels > maxTopLevel + 1) return 'levels';
  const dynamicTop = !mock;
  const hwVasz = cfg.vasz ?? (mock ? 56 : 64);
  if (hwVasz > (mock ? 56 : 64) || hwVasz < 32) return 'vasz';
  const startTop = levels - 1;
  const maxVasz = dynamicTop || startTop === maxTopLevel ? hwVasz : Math.min(hwVasz, granLg2 + 9 * (startTop + 1));
  let sizes: [number, number][] = [];
  if (dynamicTop) {
    for (let l = 0; l < maxTopLevel && granLg2 + 9 * l < maxVasz; l++) sizes.push(...possibleSizes(granLg2, l));
  } else {
    for (let l = 0; l <= Math.min(startTop, maxTopLevel - 1); l++) sizes.push(...possibleSizes(granLg2, l));
  }
  sizes = trimGetInfo(sizes, maxVasz, oaBits);
  const mockHuge = mock && cfg.mockVariant === 'huge';
  if (mockHuge) sizes = sizes.filter(([l]) => l === 12 || l === 20); // MOCK_HUGE_PAGE_SIZE | PAGE_SIZE
  return {
    kind: mock ? K_MOCK : K_AMDV1, driver: 'generic_pt', fmt, granLg2, bits: 9, levels, maxTopLevel, topEntries: 512,
    dynamicTop, maxVaBits: maxVasz, vaBits: Math.min(maxVasz, granLg2 + 9 * levels), oaBits, sizes,
    apertureStart: 0n, apertureLast: apertureLastOf(Math.min(64, maxVasz)), signExtend: false, mockHuge,
  } satisfies FormatShape;
};
