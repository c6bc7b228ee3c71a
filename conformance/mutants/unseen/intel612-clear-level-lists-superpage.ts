/**
 * intel612-clear-level-lists-superpage — drivers/iommu/intel/iommu.c
 * dma_pte_clear_level() (6.12, the VT-d driver's own page-table code, reached
 * from intel_iommu_unmap_pages → intel_iommu_unmap → domain_unmap for every
 * iommu_unmap of a VT-d domain: IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA, a
 * HWPT leaving its IOAS, the IOAS teardown).
 *
 * When the range being unmapped covers a whole entry, dma_pte_clear_level()
 * clears the entry and, if the entry points to a page table, puts that table
 * (and every table below it) on the gather's free list, to be freed after
 * the IOTLB flush:
 *
 *     if (start_pfn <= level_pfn &&
 *         last_pfn >= level_pfn + level_size(level) - 1) {
 *             if (level > 1 && !dma_pte_superpage(pte))
 *                     dma_pte_list_pagetables(domain, level - 1, pte, freelist);
 *             dma_clear_pte(pte);
 *             ...
 *
 * THE FAULT: the superpage test is dropped from the call site —
 *
 *             if (level > 1)
 *                     dma_pte_list_pagetables(domain, level - 1, pte, freelist);
 *
 * (dma_pte_list_pagetables() skips superpages among the entries it walks, so
 * the test looks redundant; but it never looks at the entry it is handed).
 * An unmap that covers a 2 MiB superpage lists the superpage's output page —
 * the first 4 KiB of the user's data, pinned until a moment before — as a
 * level-1 page table, and intel_iommu_tlb_sync() frees it after the flush
 * (iommu_put_pages_list).
 *
 * Consequence, over several commands and two objects: the unmap itself
 * answers correctly and unpins what it should, but a page of the user's
 * buffer is now on the page allocator's free list while the process still
 * maps it. Its contents are lost (the page is zeroed when it is freed, as
 * the reference's allocator and init_on_free do), and the next page-table
 * page any domain allocates — another map into a fresh 2 MiB region,
 * another IOAS's or another context's attach — is that page: the user's
 * buffer becomes a live IO page table of a domain it may not even own. What
 * the process writes there are PTEs, so a later DMA of that domain's device
 * goes wherever the process points it, and the domain's own maps overwrite
 * the user's data.
 *
 * 6.12 only: 7.3's VT-d domains use the generic_pt page table, whose
 * __unmap_range() frees only PT_ENTRY_TABLE items.
 *
 * Applied as: on every 6.12 VT-d table (intel-612 driver), clearLevel (the
 * model of dma_pte_clear_level) treats a fully covered entry above the leaf
 * level as a table to free whether or not it is a superpage (_intel612_clear.ts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { patchClearLevel } from './_intel612_clear.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-clear-level-lists-superpage', profile, {
    // THE FAULT: `if (level > 1 && !dma_pte_superpage(pte))` lost its superpage test.
    domain: (d) => {
      if (d.hw?.pt) patchClearLevel(d.hw.pt, { listsTable: (_lo, level) => level > 0 });
    },
  });
}
