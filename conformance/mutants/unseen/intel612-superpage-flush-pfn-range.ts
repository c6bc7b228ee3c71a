/**
 * R16-B3 — intel612-superpage-flush-pfn-range (drivers/iommu/intel/iommu.c
 * (6.12), switch_to_super_page(), called by __domain_mapping() when a map
 * installs a superpage where a page table is still linked).
 *
 * A 2 MiB/1 GiB leaf can land in a slot that still points to a lower-level
 * table: 6.12 VT-d never frees the 4 KiB table a partial unmap emptied, and
 * a later map of a whole, suitably aligned and physically contiguous 2 MiB
 * there turns the slot into a superpage. switch_to_super_page() frees the
 * table(s) in the way and must then invalidate the IOTLB *and the
 * paging-structure caches* (IH=0) for the range, because the unit may still
 * hold the freed table's address for that IOVA range. The kernel (6.12):
 *
 *             if (dma_pte_present(pte)) {
 *                     dma_pte_free_pagetable(domain, start_pfn,
 *                                            start_pfn + lvl_pages - 1,
 *                                            level + 1);
 *
 *                     cache_tag_flush_range(domain, start_pfn << VTD_PAGE_SHIFT,
 *                                           end_pfn << VTD_PAGE_SHIFT, 0);
 *             }
 *
 * THE FAULT: the call kept the arguments of the API it replaced —
 * iommu_flush_iotlb_psi(iommu, domain, start_pfn, pages, ih, map) took page
 * frame numbers — when it was converted to cache_tag_flush_range(), which
 * takes addresses:
 *
 *                     cache_tag_flush_range(domain, start_pfn, end_pfn, 0);
 *
 * The invalidation (PSI with IH=0) is issued for the tiny IOVA range
 * [start_pfn, end_pfn] near zero instead of the superpage's range.
 *
 * Consequence (several commands): map a 4 KiB page at a 2 MiB-aligned IOVA,
 * let the device DMA there (the unit caches the walk: PDE → 4 KiB table),
 * unmap it (6.12 keeps the now empty table; the leaf-only invalidation,
 * IH=1, rightly leaves the cached PDE), then map 2 MiB of huge-page-backed
 * memory at the same IOVA. The table is freed, the superpage installed and
 * `translate` sees it, but the unit still walks through the freed table:
 * the device's DMA there faults as unmapped — and once the freed page is
 * handed out again (the next page table or user page allocated), the device
 * walks whatever that page now holds: another range's leaves, or bytes the
 * process writes, reaching memory the IOAS never mapped at that IOVA.
 *
 * Applied as (6.12 profile only; 7.3 VT-d uses generic_pt): every 6.12 VT-d
 * paging domain's table switches to superpages through a copy of the
 * reference's switchToSuperPage whose flush gathers [start_pfn, end_pfn]
 * as an IOVA range.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation } from '../harness.ts';
import { patchSwitchToSuperPage } from './_intel612_superpage.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-superpage-flush-pfn-range', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt) return;
      patchSwitchToSuperPage(pt, {
        // THE FAULT: cache_tag_flush_range(domain, start_pfn, end_pfn, 0) — frame numbers, not addresses.
        flush: (startPfn, endPfn, level) => {
          const g = new IotlbGather();
          g.addRange(startPfn, endPfn - startPfn + 1);
          g.tableLevels |= 1 << (level - 1);
          return g;
        },
      });
    },
  });
}
