/**
 * R42-B1 — intel612-unmap-gather-one-vtd-page (drivers/iommu/intel/iommu.c
 * intel_iommu_unmap(), 6.12 only: 7.3 VT-d second-stage tables are generic_pt's,
 * whose unmap_range gathers the whole cleared range).
 *
 *     start_pfn = iova >> VTD_PAGE_SHIFT;
 *     last_pfn = (iova + size - 1) >> VTD_PAGE_SHIFT;
 *
 *     domain_unmap(dmar_domain, start_pfn, last_pfn, &gather->freelist);
 *     ...
 *     if (!iommu_iotlb_gather_queued(gather))
 *             iommu_iotlb_gather_add_page(domain, gather, iova, size);
 *
 *     return size;
 *
 * THE FAULT gathers one VT-d page instead of the range just cleared:
 *
 *             iommu_iotlb_gather_add_page(domain, gather, iova, VTD_PAGE_SIZE);
 *
 * intel_iommu_tlb_sync then flushes (PSI) only the first 4 KiB of each
 * unmap_pages call; the PTEs of the rest are gone and the pages are unpinned
 * and freed by iommufd, but the IOTLB keeps the translations the device used:
 * a device DMA to iova + 4K .. iova + size after IOMMU_IOAS_UNMAP still reaches
 * the old pages. (A call that freed whole tables still invalidates with IH=0,
 * but only over the same one page.)
 *
 * Applied as: each 6.12 VT-d table's unmapPages runs the reference's and then
 * narrows the gather's range back to [iova, iova + 4K) for that call.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IntelLegacyTable internals unmap_pages uses (private there, plain at run time). */
interface LegacyIntel {
  gather: IotlbGather | null;
  unmapPages(iova: number, pgLg2: number, pgcount: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-unmap-gather-one-vtd-page', profile, {
    domain: (d) => {
      if (profile !== '6.12') return;
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'intel-612') return;
      const t = pt as unknown as LegacyIntel;
      patchOwn(t, 'unmapPages', (orig) => (iova: number, pgLg2: number, pgcount: number): number => {
        const real = t.gather;
        if (real === null) return orig(iova, pgLg2, pgcount);
        // Let the reference clear the range into a scratch gather (its table frees kept),
        // then add to the real gather only the first VT-d page of the range.
        const scratch = new IotlbGather();
        t.gather = scratch;
        let n: number;
        try {
          n = orig(iova, pgLg2, pgcount);
        } finally {
          t.gather = real;
        }
        for (const f of scratch.freelist) real.freelist.push(f);
        real.tableLevels |= scratch.tableLevels;
        if (n > 0) {
          // THE FAULT: iommu_iotlb_gather_add_page(domain, gather, iova, VTD_PAGE_SIZE)
          real.addRange(iova, 4096);
          real.addLeaf(0, 12);
        }
        return n;
      });
    },
  });
}
