/**
 * pt-unmap-partial-check-in-loop (drivers/iommu/generic_pt/iommu_pt.h
 * __unmap_range).
 *
 * The IOMMU API lets unmap refuse to cut a large IOPTE, and generic_pt does
 * so only for the entry the range *starts* in: before the loop,
 *     pts.type = pt_load_entry_raw(&pts);
 *     if (pts.type == PT_ENTRY_OA) {
 *             if (log2_mod(range->va, pt_entry_oa_lg2sz(&pts)))
 *                     return -EINVAL;
 *             goto start_oa;
 *     }
 *     do { ... start_oa: num_contig_lg2 = pt_entry_num_contig_lg2(&pts);
 *              pt_clear_entries(&pts, num_contig_lg2); ... } while (true);
 * Every later leaf the range reaches starts where the previous entry ended,
 * so it is whole and is cleared.
 *
 * The fault: the "starts in the middle of a contiguous entry" test is made
 * for every OA entry the loop meets (the goto folded into the loop), still
 * against range->va, the start of the unmap at that level. A range that does
 * not start aligned to a later, larger leaf — an area that begins with small
 * pages and continues with a 2M leaf (VT-d, AMD) or a contiguous run of 8K,
 * 16K... (AMD v1 and the AMDv1 mock, every power of two) — stops there with
 * -EINVAL: unmap_pages returns only the bytes cleared before it.
 *
 * Consequence: iommufd's iommu_unmap_nofail() WARNs and goes on, the area is
 * removed from the IOAS and its pages unpinned and uncharged, but the tail of
 * it stays mapped in the domain (and in the IOTLB, whose flush covered only
 * the bytes reported). The device keeps DMA access to pages the user no
 * longer maps — and once the user frees them, to whatever reuses them; a
 * later IOMMU_IOAS_MAP over that IOVA fails with EADDRINUSE.
 *
 * Applied as: every 7.3 generic_pt paging domain's table (VT-d second stage,
 * AMD v1, the AMDv1 mock) unmaps through the copy of __unmap_range in
 * _pt_unmap.ts with this leaf test.
 * io-pgtable-arm (SMMUv3) and the 6.12 drivers do not use it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { modPow2 } from '../../../impl/pagetable/pgsize.ts';
import { mutantImplementation } from '../harness.ts';
import { patchUnmapLevel } from './_pt_unmap.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-unmap-partial-check-in-loop', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      // THE FAULT: log2_mod(range->va, pt_entry_oa_lg2sz(&pts)) for every leaf (single or contiguous), not only the first.
      patchUnmapLevel(pt, { cutsLeaf: (_first, va, size) => modPow2(va, size) !== 0 });
    },
  });
}
