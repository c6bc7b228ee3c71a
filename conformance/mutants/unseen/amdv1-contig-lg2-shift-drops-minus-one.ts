/**
 * amdv1-contig-lg2-shift-drops-minus-one — drivers/iommu/generic_pt/fmt/amdv1.h
 * amdv1pt_entry_num_contig_lg2() (7.3; the AMD v1 table of amd0 and the
 * selftest's AMDv1 mock share it).
 *
 * A leaf bigger than the table item (8K, 16K, … 1M at level 0; 4M… at level 1)
 * is stored as 2^n replicated entries with NextLevel = 7 and a run of ones in
 * the low bits of the OA field. The kernel decodes n as:
 *
 *     /*
 *      * The contiguous size is encoded in the length of a string of 1's in
 *      * the low bits of the OA. Reverse the equation:
 *      *  code = log2_to_int(num_contig_lg2 + item_lg2sz -
 *      *              PT_GRANULE_LG2SZ - 1) - 1
 *      * ...
 *      *\/
 *     code = pts->entry >> (__bf_shf(AMDV1PT_FMT_OA) - 1 +
 *                           pt_table_item_lg2sz(pts) - PT_GRANULE_LG2SZ);
 *     return ffz_t(u32, code);
 *
 * THE FAULT: the "- 1" of the shift is lost (the shift starts at the OA
 * field proper, the natural reading of __bf_shf(AMDV1PT_FMT_OA)):
 *
 *     code = pts->entry >> (__bf_shf(AMDV1PT_FMT_OA) +
 *                           pt_table_item_lg2sz(pts) - PT_GRANULE_LG2SZ);
 *
 * The bit below the OA field's item-aligned part is always a one in a
 * size-coded entry (NextLevel's top bit at level 0, a one of the size code
 * above), so every contiguous leaf decodes one size smaller: an 8K leaf as
 * 4K, 16K as 8K. The map side (install) is untouched and the IOMMU hardware
 * decodes the entries correctly, so DMA is unaffected; what breaks is the
 * software walk: iova_to_phys of the upper half of a large leaf returns the
 * leaf's base OA plus the offset inside the smaller size (the PA of the
 * lower half). iommufd uses iommu_iova_to_phys to find the pages to unpin
 * when it unfills a domain that holds the only copy (batch_from_domain), and
 * the selftest's MD_CHECK_MAP compares it with the user pages; the adapter's
 * translate observation reports it too.
 *
 * Applied as (7.3 only, generic_pt AMD v1 and AMDv1-mock tables): each such
 * table's software side sees a format whose contigLg2 answers one less for a
 * NextLevel=7 entry. The walker (hardware) keeps the format it was given.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { PtFormat } from '../../../impl/pagetable/format.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const NL_SIZE = 7;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amdv1-contig-lg2-shift-drops-minus-one', profile, {
    domain(d, env) {
      if (env.profile !== '7.3') return;
      const pt = d.hw?.pt;
      if (!pt) return;
      if (pt.fmt.name !== 'amd-v1' && pt.fmt.name !== 'mock-amdv1') return;
      patchOwn(pt, 'fmt', (orig: PtFormat) => {
        const w = Object.create(orig) as PtFormat;
        Object.defineProperty(w, 'contigLg2', {
          value: (lo: number, hi: number, level: number): number => {
            const r = orig.contigLg2(lo, hi, level);
            return ((lo >>> 9) & 7) === NL_SIZE && r > 0 ? r - 1 : r;
          },
        });
        return w;
      });
    },
  });
}
