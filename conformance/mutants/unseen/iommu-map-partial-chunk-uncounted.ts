/**
 * iommu-map-partial-chunk-uncounted — drivers/iommu/iommu.c __iommu_map()
 * (6.12; 7.3's __iommu_map_domain_pgtbl() is the same loop for the drivers
 * that still use map_pages), the iommu core's map loop in front of every
 * io-pgtable style driver: every iommu_map of IOMMU_IOAS_MAP / _COPY,
 * VFIO_IOMMU_MAP_DMA and of the fill of a domain joining an IOAS.
 *
 * The loop hands the driver one page size and a count at a time and must
 * account for what the driver mapped even when the call fails, so that the
 * unroll takes it back:
 *
 *     ret = ops->map_pages(domain, iova, paddr, pgsize, count, prot,
 *                          gfp, &mapped);
 *     /*
 *      * Some pages may have been mapped, even if an error occurred,
 *      * so we should account for those so they can be unmapped.
 *      *\/
 *     size -= mapped;
 *
 *     if (ret)
 *             break;
 *     ...
 *     /* unroll mapping in case something went wrong *\/
 *     if (ret)
 *             iommu_unmap(domain, orig_iova, orig_size - size);
 *
 * THE FAULT: the accounting moved below the error check, with the cursor
 * updates ("only count what succeeded"):
 *
 *     if (ret)
 *             break;
 *     size -= mapped;
 *     iova += mapped;
 *     paddr += mapped;
 *
 * A map_pages call that fails part-way is not unrolled for the pages it did
 * map. AMD v1 (6.12 amd/io_pgtable.c iommu_v1_map_pages) is such a driver:
 * it writes the PTEs page by page, allocating a table whenever the range
 * crosses into a new one, and on -ENOMEM reports *mapped for the pages
 * already written. (io-pgtable-arm fails a call before writing any leaf; the
 * 6.12 VT-d driver reports nothing on failure either way.)
 *
 * Why it takes several commands and two objects: the failing IOMMU_IOAS_MAP
 * (a 4 KiB-page chunk that crosses a 2 MiB table boundary, whose next leaf
 * table cannot be allocated) returns ENOMEM and iommufd undoes its part —
 * the area goes, the pages are unpinned and uncharged — but the domain keeps
 * the leaves of the failed chunk. The IOAS says the IOVAs are free; the AMD
 * device still reads and writes, through them, the pages the failed map was
 * about to give it, now unpinned: after the process unmaps or reuses that
 * memory the device reaches whatever the frames hold next (another buffer,
 * another process). A later map of the same IOVA range replaces the
 * leftovers silently on 6.12 AMD, so only the window in between is open.
 *
 * Applied as (6.12; the drivers with map_pages): the iommu core's loop does
 * not count a failing map_pages call's progress, so the unroll leaves it in
 * place.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The iommu core's view of an io-pgtable style table (impl/pagetable/iommu_core.ts PagesDriver). */
interface PagesDriverInternals {
  pagesMapped: number;
  mapPages(iova: number, paddr: number, pgsizeLg2: number, pgcount: number, prot: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iommu-map-partial-chunk-uncounted', profile, {
    domain: (d) => {
      const pt = d.hw?.pt as unknown as Partial<PagesDriverInternals> | null | undefined;
      if (!pt || typeof pt.mapPages !== 'function') return;
      const t = pt as PagesDriverInternals;
      patchOwn(t, 'mapPages', (mapPages) => (iova: number, paddr: number, pgsizeLg2: number, pgcount: number, prot: number) => {
        const rc = mapPages(iova, paddr, pgsizeLg2, pgcount, prot);
        // THE FAULT: `if (ret) break;` before `size -= mapped;`: the failing call's progress is not counted.
        if (rc !== 0) t.pagesMapped = 0;
        return rc;
      });
    },
  });
}
