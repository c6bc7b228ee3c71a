/**
 * R41-B4 — amdv1-iw-from-read-prot (drivers/iommu/generic_pt/fmt/amdv1.h
 * amdv1pt_iommu_set_prot(), the leaf attributes of every map of a 7.3 AMD v1
 * table: the AMD driver's v1 domains and the selftest's amdv1 mock domains;
 * 7.3 only — 6.12 AMD maps through its own io_pgtable.c, the 6.12 mock
 * through an xarray).
 *
 *     if (pt_feature(common, PT_FEAT_AMDV1_FORCE_COHERENCE))
 *             pte |= AMDV1PT_FMT_FC;
 *     if (iommu_prot & IOMMU_READ)
 *             pte |= AMDV1PT_FMT_IR;
 *     if (iommu_prot & IOMMU_WRITE)
 *             pte |= AMDV1PT_FMT_IW;
 *
 * THE FAULT is a copy-paste of the line above it:
 *
 *     if (iommu_prot & IOMMU_READ)
 *             pte |= AMDV1PT_FMT_IW;
 *
 * A read-only mapping (IOMMU_IOAS_MAP with READABLE only, a VFIO_DMA_MAP_FLAG_READ
 * map, a copy of a read-only area) gets IR|IW: the device may write into user
 * memory the process only lent for reading (read-only pages are pinned without
 * FOLL_WRITE). A write-only mapping gets no IW and no IR: the device's writes
 * fault. Read/write mappings are unchanged.
 *
 * Applied as: every generic_pt AMD v1 table (7.3) computes its leaf
 * attributes through the reference's setProt and then takes IW from
 * IOMMU_READ.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_READ } from '../../../impl/pagetable/format.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const AMD_IW_HI = 1 << 30; // bit 62 in the high word

/** The IoPageTable internals set_prot uses (protected there, plain at run time). */
interface ProtTable {
  readonly attrs: Int32Array;
  setProt(prot: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amdv1-iw-from-read-prot', profile, {
    domain: (d) => {
      if (profile !== '7.3') return;
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt' || (pt.fmt.name !== 'amd-v1' && pt.fmt.name !== 'mock-amdv1')) return;
      const t = pt as unknown as ProtTable;
      patchOwn(t, 'setProt', (setProt) => (prot: number): number => {
        const rc = setProt(prot);
        if (rc !== 0) return rc;
        let hi = t.attrs[1] as number;
        hi &= ~AMD_IW_HI;
        // THE FAULT: IW from IOMMU_READ.
        if (prot & IOMMU_READ) hi |= AMD_IW_HI;
        t.attrs[1] = hi;
        return 0;
      });
    },
  });
}
