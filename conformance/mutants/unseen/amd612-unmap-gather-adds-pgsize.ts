/**
 * amd612-unmap-gather-adds-pgsize — drivers/iommu/amd/iommu.c (6.12)
 * amd_iommu_unmap_pages(), the AMD driver's unmap_pages op, which is what
 * every iommu_unmap() of an AMD v1 domain reaches (the iommu core's
 * __iommu_unmap loop calls it once per (pgsize, pgcount) chunk that
 * iommu_pgsize() cuts the range into, all into one gather, and syncs the
 * gather once at the end):
 *
 *     r = (ops->unmap_pages) ? ops->unmap_pages(ops, iova, pgsize, pgcount, NULL) : 0;
 *
 *     if (r)
 *             amd_iommu_iotlb_gather_add_page(dom, gather, iova, r);
 *
 *     return r;
 *
 * and amd_iommu_iotlb_sync() later flushes [gather->start, gather->end]
 * (amd_iommu_domain_flush_pages → INVALIDATE_IOMMU_PAGES, PDE=1).
 *
 * THE FAULT: the range handed to the gather is one page of the chunk,
 *
 *     amd_iommu_iotlb_gather_add_page(dom, gather, iova, pgsize);
 *
 * which is what the driver's old single-page .unmap op did
 * (`amd_iommu_iotlb_gather_add_page(dom, gather, iova, page_size)`) and what
 * a conversion to unmap_pages keeps when it renames page_size to pgsize and
 * forgets that one call now covers pgcount pages. Nothing returns an error
 * and iommu_unmap() reports every byte unmapped: the page table is right,
 * only the invalidation is short.
 *
 * Because the gather collects every chunk of the unmap and syncs once, the
 * earlier chunks' first pages stretch the flushed range over most of them;
 * what is left out is the tail of the last chunk — the pages after its first
 * when iommu_pgsize() handed out that chunk as several pages (an area
 * ending with two or more pages of the largest size its end alignment
 * allows, e.g. 8 KiB at an odd 4 KiB IOVA, or 16 KiB at 0x...2000). Their
 * IOTLB entries (and, with PDE set, the walk-cache entries of that range)
 * outlive IOAS_UNMAP.
 *
 * Observable over several commands: a device DMA fills the IOTLB for the
 * tail pages, IOAS_UNMAP (or the unmap of a copy, a detach that empties the
 * domain, an IOAS destroy) returns success, iommufd unpins the pages — and a
 * later DMA by any device of the domain at those IOVAs still reads and
 * writes the old pages, which the process may have freed or reused for
 * another buffer, or which another IOAS maps now; `translate` (a table walk)
 * says unmapped throughout. A later map at the same IOVAs is shadowed by the
 * stale entries until they are evicted.
 *
 * Applied as: the 6.12 AMD v1 tables' unmap_pages adds [iova, iova + pgsize)
 * to the gather instead of [iova, iova + bytes unmapped). 7.3 AMD domains
 * are generic_pt (unmap_range gathers once per call) and are left alone.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** What amd_iommu_unmap_pages reads of the 6.12 AMD table (AmdLegacyTable, private there). */
interface AmdLegacyTable {
  gather: IotlbGather | null;
  unmapPages(iova: number, pgLg2: number, pgcount: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd612-unmap-gather-adds-pgsize', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'amd-612') return;
      const t = pt as unknown as AmdLegacyTable;
      patchOwn(t, 'unmapPages', (unmapPages) => (iova, pgLg2, pgcount) => {
        // ops->unmap_pages(ops, iova, pgsize, pgcount, NULL): the page table walk, no gather.
        const gather = t.gather;
        t.gather = null;
        let r: number;
        try {
          r = unmapPages(iova, pgLg2, pgcount);
        } finally {
          t.gather = gather;
        }
        // THE FAULT: amd_iommu_iotlb_gather_add_page(dom, gather, iova, pgsize) — not r.
        if (r > 0 && gather !== null) {
          gather.addRange(iova, 2 ** pgLg2);
          gather.addLeaf(0, 12);
        }
        return r;
      });
    },
  });
}
