/**
 * R22-B3 — intel612-superpage-retain-level (drivers/iommu/intel/iommu.c
 * switch_to_super_page(), called by __domain_mapping() when a map can use a
 * superpage; 6.12).
 *
 * Before __domain_mapping() writes a 2 MiB (or 1 GiB) superpage PTE, the
 * slot may still hold a pointer to a lower-level table: the table an
 * earlier map of 4 KiB pages in that span allocated, which the unmap of
 * those pages left behind (dma_pte_clear_level frees a table only when the
 * unmapped range covers all of it). switch_to_super_page() clears and frees
 * such tables, keeping the levels at and above the superpage's own entry:
 *
 *     if (dma_pte_present(pte)) {
 *             dma_pte_free_pagetable(domain, start_pfn,
 *                                    start_pfn + lvl_pages - 1,
 *                                    level + 1);
 *             cache_tag_flush_range(domain, start_pfn << VTD_PAGE_SHIFT,
 *                                   end_pfn << VTD_PAGE_SHIFT, 0);
 *     }
 *
 * dma_pte_free_pagetable()'s last argument is the first level to *retain*:
 * dma_pte_free_level() frees a table hanging off an entry at level L only
 * when L < retain_level. THE FAULT passes the superpage's own level:
 *
 *             dma_pte_free_pagetable(domain, start_pfn,
 *                                    start_pfn + lvl_pages - 1,
 *                                    level);
 *
 * (read as "free the tables below this level"), so the table under the
 * superpage's entry is neither freed nor unlinked; dma_pte_clear_range()
 * has only cleared its (already empty) leaves. Back in __domain_mapping()
 * the superpage is written with try_cmpxchg64_local(&pte->val, 0, pteval),
 * which fails on the table pointer: "DMA PTE for vPFN ... already set", a
 * WARN, and the map goes on and returns success.
 *
 * Why it needs several commands and two objects: a fresh 2 MiB span takes
 * its superpage fine, and a span that only ever held 4 KiB pages never asks
 * for one. It takes an area of 4 KiB pages in a 2 MiB span (IOMMU_IOAS_MAP
 * of a small or unaligned buffer), its unmap, and then a second area that
 * covers the span with physically contiguous, 2 MiB-aligned memory (a
 * huge-page buffer at a 2 MiB-aligned IOVA). IOMMU_IOAS_MAP of that second
 * area succeeds, its pages are pinned and charged, IOMMU_IOAS_IOVA_RANGES
 * and the IOAS say it is mapped — but the domain has nothing there: every
 * DMA of the devices on the domain to the whole 2 MiB faults as unmapped
 * (a VM's RAM that the VMM just mapped is not reachable by its assigned
 * device), and iommu_iova_to_phys (MD_CHECK_MAP, `translate`) finds no
 * translation. It stays so until that area is unmapped.
 *
 * Applied as (6.12 only: 7.3 VT-d uses generic_pt): every 6.12 VT-d paging
 * domain's table switches to superpages through a copy of the reference's
 * switchToSuperPage that hands dma_pte_free_pagetable the superpage's level
 * as the level to retain.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { patchSwitchToSuperPage } from './_intel612_superpage.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-superpage-retain-level', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      // THE FAULT: retain_level is the superpage's VT-d level (ours + 1), not that level + 1
      // (the reference passes level + 2 here), so the table under the entry is kept.
      if (pt) patchSwitchToSuperPage(pt, { retain: (level) => level + 1 });
    },
  });
}
