/**
 * arm-unmap-add-page-past-run (drivers/iommu/io-pgtable-arm.c __arm_lpae_unmap,
 * the leaves it reports to the SMMUv3 driver's tlb_add_page; the same loop in
 * 6.12 and 7.3).
 *
 * When an unmap reaches the level of its page size, __arm_lpae_unmap clears
 * up to the end of the current table page (i entries, tables among them freed
 * after a walk flush) and then reports every cleared leaf to the driver, which
 * gathers it for the iotlb_sync at the end of iommu_unmap
 * (arm_smmu_tlb_inv_page_nosync → iommu_iotlb_gather_add_page):
 *
 *             /* Clear the remaining entries *\/
 *             __arm_lpae_clear_pte(ptep, &iop->cfg, i);
 *
 *             if (gather && !iommu_iotlb_gather_queued(gather))
 *                     for (int j = 0; j < i; j++)
 *                             io_pgtable_tlb_add_page(iop, gather, iova + j * size, size);
 *
 *             return i * size;
 *
 * THE FAULT: the address is computed with the entry count instead of the loop
 * variable — the form of the same call a few lines up, in the 6.12 block
 * split (`for (i = 0; i < num_entries; i++) io_pgtable_tlb_add_page(&data->iop,
 * gather, iova + i * size, size);`), pasted into the new j loop:
 *
 *                     for (int j = 0; j < i; j++)
 *                             io_pgtable_tlb_add_page(iop, gather, iova + i * size, size);
 *
 * Every add names the page just past the run that was cleared. The PTEs are
 * gone and the byte count is right, so the iommu core and iommufd see a
 * complete unmap; the TLBI that arm_smmu_iotlb_sync sends covers the wrong
 * page.
 *
 * Consequence (several commands, and a second mapping): a device that used
 * an area keeps its cached translations after IOMMU_IOAS_UNMAP (or
 * VFIO_IOMMU_UNMAP_DMA, or an IOAS teardown while another domain keeps the
 * pages pinned): it keeps reading and writing pages the process no longer
 * has mapped or pinned. When the IOVA range is mapped again to another
 * buffer, the device still reaches the old one. The page after each run is
 * invalidated for nothing.
 *
 * Applied as: every SMMUv3 (io-pgtable-arm) paging domain's unmap_pages adds
 * one page at iova + i * size to the gather for the run of i entries it
 * cleared, instead of the run.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** What ArmLpaeTable.unmapPages touches of its table (io_pgtable_arm.ts). */
interface ArmLpaeInternals {
  gather: IotlbGather | null;
  unmapPages(iova: number, pgLg2: number, pgcount: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-unmap-add-page-past-run', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (d.owner.name !== 'smmuv3' || !pt || pt.g.driver !== 'io-pgtable-arm') return;
      const t = pt as unknown as ArmLpaeInternals;
      patchOwn(t, 'unmapPages', (unmapPages) => (iova: number, pgLg2: number, pgcount: number) => {
        const gather = t.gather;
        t.gather = null; // the run is reported below, as the fault reports it
        let r: number;
        try {
          r = unmapPages(iova, pgLg2, pgcount);
        } finally {
          t.gather = gather;
        }
        if (r > 0 && gather !== null) {
          const size = 2 ** pgLg2;
          // THE FAULT: io_pgtable_tlb_add_page(iop, gather, iova + i * size, size) for each j < i.
          gather.addRange(iova + r, size);
          gather.addLeaf(Math.max(0, pt.g.levelOfLg2[pgLg2] ?? 0), pgLg2);
        }
        return r;
      });
    },
  });
}
