/**
 * intel612-superpage-flush-leaf-hint (6.12 drivers/iommu/intel/iommu.c
 * switch_to_super_page, reached from __domain_mapping whenever a 2 MiB (or
 * 1 GiB) page is mapped where a lower table already hangs).
 *
 * A 6.12 VT-d unmap never frees a leaf table it does not fully cover, so an
 * IOAS area that used a few 4 KiB pages of a 2 MiB block leaves that block's
 * (now empty) table behind. When a later map puts a superpage there,
 * switch_to_super_page frees the table and must invalidate the paging-
 * structure caches that may still point at it — invalidation hint IH=0:
 *
 *         if (dma_pte_present(pte)) {
 *                 dma_pte_free_pagetable(domain, start_pfn,
 *                                        start_pfn + lvl_pages - 1,
 *                                        level + 1);
 *
 *                 cache_tag_flush_range(domain, start_pfn << VTD_PAGE_SHIFT,
 *                                       end_pfn << VTD_PAGE_SHIFT, 0);
 *         }
 *
 * The fault computes the hint the way intel_iommu_tlb_sync does,
 * `list_empty(&gather->freelist)` — here the empty local free list (or
 * "!freelist" when the helper lost its list argument), since
 * dma_pte_free_pagetable frees the pages itself: IH=1, "only leaves changed".
 *
 * What changes: the PSI keeps the walk-cache (PDE cache) entries of the
 * range. A device that translated through the old table before it emptied
 * (the unmap of its last 4 KiB leaf is correctly a leaf-only, IH=1 flush, so
 * the entry survives) still holds a pointer to the freed table page: after
 * the superpage map its DMA to the new 2 MiB page walks the freed page and
 * faults although IOMMU_IOAS_MAP succeeded and a table walk (translate)
 * finds the mapping; once the page is reused as another table — of this
 * domain or of another one — the device translates the new area's IOVAs
 * through that table instead (another area's or another IOAS's pages).
 * Nothing goes wrong unless a device walked that block before, the block was
 * emptied by unmaps, and a superpage is then mapped over it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation } from '../harness.ts';
import { patchSwitchToSuperPage } from './_intel612_superpage.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-superpage-flush-leaf-hint', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt) return;
      patchSwitchToSuperPage(pt, {
        // cache_tag_flush_range(domain, start_pfn << 12, end_pfn << 12, ih): THE FAULT, ih = 1
        // (no table level recorded in the gather: the flush is a leaf-only PSI).
        flush: (startPfn, endPfn) => {
          const g = new IotlbGather();
          g.addRange(startPfn * 4096, (endPfn - startPfn) * 4096 + 1);
          return g;
        },
      });
    },
  });
}
