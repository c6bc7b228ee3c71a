/**
 * iommu-unmap-steps-by-pgsize (drivers/iommu/iommu.c
 * __iommu_unmap_domain_pgtbl, 6.12 __iommu_unmap).
 *
 * For a driver with unmap_pages (io-pgtable: the SMMUv3 domains here) the
 * iommu core unmaps a range in chunks: iommu_pgsize() picks a page size and
 * a count, the driver clears up to `count` entries — at most to the end of
 * the current table page (arm_lpae_max_entries) — and returns how many bytes
 * it cleared; the loop moves on by that amount:
 *     while (unmapped < size) {
 *             size_t pgsize, count;
 *
 *             pgsize = iommu_pgsize(domain, iova, iova, size - unmapped, &count);
 *             unmapped_page = ops->unmap_pages(domain, iova, pgsize, count,
 *                                              iotlb_gather);
 *             if (!unmapped_page)
 *                     break;
 *
 *             iova += unmapped_page;
 *             unmapped += unmapped_page;
 *     }
 * The fault is the leftover of the pgcount conversion: the IOVA still steps
 * by one page, `iova += pgsize`, while `unmapped` counts what unmap_pages
 * really cleared. Whenever a chunk clears more than one page and the range
 * goes on, the next chunk starts inside what was just cleared, finds an
 * empty entry, gets 0 and the loop stops: the rest of the range stays mapped
 * and iommu_unmap returns less than asked.
 *
 * It shows when an area mapped with 4 KiB pages has two or more pages before
 * a 2 MiB IOVA boundary (the end of a last-level table) and goes on past it,
 * or when iommu_pgsize stops a run of small pages at the alignment point of
 * a block. iommufd's iopt_area_unmap_domain_range (iommu_unmap_nofail)
 * only WARNs on the short count and goes on to unpin and uncharge the pages.
 *
 * Consequence: after IOMMU_IOAS_UNMAP (or the HWPT/IOAS teardown that unmaps
 * the domain) the device still translates the tail of the range to pages
 * iommufd no longer pins — freed, and reused for anything (use after free by
 * DMA). The leftover entries also make a later map of that IOVA range fail
 * (-EEXIST from arm_lpae_map_pages).
 *
 * Applied as: the SMMUv3 (io-pgtable-arm) paging domains unmap through this
 * loop; the page-table code itself is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ArmLpaeTable } from '../../../impl/pagetable/io_pgtable_arm.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { iommuPgsize, modPow2 } from '../../../impl/pagetable/pgsize.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iommu-unmap-steps-by-pgsize', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!(pt instanceof ArmLpaeTable)) return;
      const arm = pt as unknown as { gather: IotlbGather | null };
      patchOwn(pt, 'unmapNoSync', () => (iova: number, len: number, gather: IotlbGather): number => {
        const sizes = pt.pgsizeList;
        const min = 2 ** (sizes[0] as number);
        if (modPow2(iova, min) !== 0 || modPow2(len, min) !== 0) return 0;
        arm.gather = gather;
        let unmapped = 0;
        while (unmapped < len) {
          const [pg, count] = iommuPgsize(sizes, iova, iova, len - unmapped);
          const n = pt.unmapPages(iova, pg, count);
          if (n === 0) break;
          iova += 2 ** pg; // THE FAULT: was iova += n (unmapped_page)
          unmapped += n;
        }
        arm.gather = null;
        return unmapped;
      });
    },
  });
}
