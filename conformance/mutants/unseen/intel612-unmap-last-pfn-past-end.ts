/**
 * intel612-unmap-last-pfn-past-end — drivers/iommu/intel/iommu.c
 * intel_iommu_unmap() (6.12, the VT-d driver's own page-table code).
 *
 * intel_iommu_unmap() turns the byte range into an inclusive PFN range for
 * domain_unmap() / dma_pte_clear_level():
 *
 *     start_pfn = iova >> VTD_PAGE_SHIFT;
 *     last_pfn = (iova + size - 1) >> VTD_PAGE_SHIFT;
 *     domain_unmap(dmar_domain, start_pfn, last_pfn, &gather->freelist);
 *     ...
 *     iommu_iotlb_gather_add_page(domain, gather, iova, size);
 *     return size;
 *
 * THE FAULT: last_pfn = (iova + size) >> VTD_PAGE_SHIFT — the exclusive end
 * used as if it were the last page (the `- 1` lost when the helper was
 * open-coded). Every unmap also clears the PTE of the page right after the
 * range; the IOTLB gather still covers only [iova, iova + size), and a table
 * whose last page is that extra page counts as "fully covered" and is freed.
 *
 * Consequence, always through a second object, the IOVA neighbour:
 *   - when another area is mapped right after the one being unmapped (IOVA-
 *     adjacent maps are what auto IOVA allocation produces), IOMMU_IOAS_UNMAP
 *     or the IOAS/HWPT teardown of the first area silently unmaps the first
 *     page of the second: the IOAS still maps it and keeps it pinned, the
 *     device faults on it (once the untouched IOTLB entry is evicted);
 *   - when that neighbour starts with a 2 MiB (or 1 GiB) superpage,
 *     dma_pte_clear_level() does not see the superpage as fully covered and
 *     "recurses" into it: the superpage's output address is treated as a
 *     page table and the kernel writes a zero PTE into the neighbour's
 *     *data* — eight bytes of the user's buffer (its first page) are zeroed by
 *     an unmap of an unrelated area;
 *   - an area that ends at the top of the domain's address width makes
 *     domain_unmap() WARN on the out-of-range last_pfn and clear nothing, while
 *     the caller unpins the pages: the device keeps DMA access to freed pages.
 *
 * 6.12 only: 7.3's VT-d domains use the generic_pt page table, whose
 * unmap_pages() does not go through this code.
 *
 * Applied as: on every 6.12 VT-d table (intel-612 driver), unmap_pages clears
 * [start_pfn, (iova + size) >> 12] and gathers [iova, iova + size) as before.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IntelLegacyTable internals intel_iommu_unmap uses. */
interface IntelTable {
  unmapPages(iova: number, pgLg2: number, pgcount: number): number;
  pfnSupported(pfn: number): boolean;
  pfnToPte(pfn: number, target: number, alloc: boolean): number;
  clearLevel(level: number, table: number, pfn: number, startPfn: number, lastPfn: number, g: IotlbGather | null): void;
  readonly pteLevel: number;
  readonly gather: IotlbGather | null;
  readonly topLevel: number;
  readonly root: number;
}

function patchTable(pt: IoPageTable): void {
  const t = pt as unknown as IntelTable;
  patchOwn(t, 'unmapPages', () => (iova, pgLg2, pgcount) => {
    let size = pgcount * 2 ** pgLg2;
    const pfn = iova / 4096;
    if (!t.pfnSupported(pfn)) return 0;
    if (t.pfnToPte(pfn, -1, false) < 0) return 0;
    // Cope with the API that requires unmapping a whole large page.
    const leaf = 2 ** (12 + 9 * t.pteLevel);
    if (size < leaf) size = leaf;
    const startPfn = pfn;
    const lastPfn = Math.floor((iova + size) / 4096); // THE FAULT: (iova + size - 1) >> VTD_PAGE_SHIFT
    const g = t.gather;
    // domain_unmap: WARN_ON(!domain_pfn_supported(last_pfn)) and nothing cleared; the caller goes on.
    if (t.pfnSupported(lastPfn)) t.clearLevel(t.topLevel, t.root, 0, startPfn, lastPfn, g);
    if (g !== null) {
      g.addRange(iova, size);
      g.addLeaf(0, 12);
    }
    return size;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-unmap-last-pfn-past-end', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt && pt.g.driver === 'intel-612') patchTable(pt);
    },
  });
}
