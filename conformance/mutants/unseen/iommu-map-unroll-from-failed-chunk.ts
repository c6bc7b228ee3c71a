/**
 * iommu-map-unroll-from-failed-chunk — drivers/iommu/iommu.c __iommu_map()
 * (6.12), the iommu core's map loop in front of every driver with
 * map_pages: io-pgtable-arm (SMMUv3), the 6.12 VT-d and AMD v1 page tables.
 * Every iommu_map of IOMMU_IOAS_MAP / _COPY, VFIO_IOMMU_MAP_DMA and the fill
 * of a domain joining an IOAS goes through it.
 *
 * The loop maps the range in chunks of one page size (iommu_pgsize) and, if
 * a chunk fails, takes back everything mapped so far, from the start of the
 * range:
 *
 *     unsigned long orig_iova = iova;
 *     size_t orig_size = size;
 *     ...
 *     while (size) {
 *             ...
 *             ret = ops->map_pages(domain, iova, paddr, pgsize, count, prot,
 *                                  gfp, &mapped);
 *             size -= mapped;
 *             if (ret)
 *                     break;
 *             iova += mapped;
 *             paddr += mapped;
 *     }
 *
 *     /* unroll mapping in case something went wrong *\/
 *     if (ret)
 *             iommu_unmap(domain, orig_iova, orig_size - size);
 *
 * THE FAULT: the unroll starts at the loop's cursor instead of the start of
 * the range:
 *
 *     if (ret)
 *             iommu_unmap(domain, iova, orig_size - size);
 *
 * It takes back the right number of bytes from the wrong place: from the
 * chunk that failed onwards. When a chunk after the first one fails (a map
 * of a few 2 MiB blocks followed by 4 KiB pages, whose leaf table cannot be
 * allocated: -ENOMEM, a fail_nth point) the blocks mapped before it stay in
 * the domain, and the unmap runs past the end of the range over whatever
 * the domain maps there. (How far it gets is the driver's: 6.12 VT-d's
 * domain_unmap clears the whole span, holes included; io-pgtable-arm and
 * the AMD v1 table stop at the first missing table, here the failed chunk's,
 * so on those only the leftover blocks remain.)
 *
 * Consequence, two areas and several commands: IOMMU_IOAS_MAP fails with
 * ENOMEM, iommufd unpins the pages and forgets the area, as it should. But
 * (1) the domain still translates the first part of the failed range to
 * those unpinned pages: a device attached to the IOAS reads and writes
 * memory the process no longer has pinned, at IOVAs the IOAS says are free,
 * and a later map there is refused (EEXIST / the 6.12 VT-d WARN keeps the old
 * leaf); (2) on VT-d, an area mapped earlier just above the failed range —
 * another buffer, still mapped and pinned in the IOAS — is silently unmapped
 * from the domain: the device's DMA there faults, while the pins and the
 * IOAS say it is mapped, until that area is unmapped.
 *
 * Applied as (6.12 only; 7.3 moved the loop into __iommu_map_domain_pgtbl,
 * which reports *mapped to iommu_map_nosync, whose unroll has only the
 * caller's iova): for the domains of the page tables driven by the core's
 * loop, a failed map is undone from the start of the chunk that failed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { PagesDriver } from '../../../impl/pagetable/iommu_core.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iommu-map-unroll-from-failed-chunk', profile, {
    domain: (d) => {
      const hw = d.hw;
      const pt = hw?.pt;
      if (profile !== '6.12' || !hw || !pt || pt.g.driver === 'generic_pt') return;
      const drv = pt as unknown as PagesDriver & { mapped: number };
      /** The IOVA of the last map_pages call: the loop's `iova` when it breaks. */
      let cursor = 0;
      patchOwn(drv, 'mapPages', (mapPages) => (iova: number, paddr: number, pgLg2: number, pgcount: number, prot: number) => {
        cursor = iova;
        return mapPages(iova, paddr, pgLg2, pgcount, prot);
      });
      patchOwn(hw, 'map', () => (iova: number, pa: number, len: number, prot: number): number => {
        cursor = iova;
        const rc = pt.map(iova, pa, len, prot);
        hw.mapped = pt.mapped;
        // THE FAULT: iommu_unmap(domain, iova, orig_size - size) — from the failed chunk, not orig_iova.
        if (rc !== 0 && pt.mapped > 0) hw.unmap(cursor, pt.mapped);
        return rc;
      });
    },
  });
}
