/**
 * iommu-unmap-pgsize-from-full-size — drivers/iommu/iommu.c
 * __iommu_unmap_domain_pgtbl() (7.3) / __iommu_unmap() (6.12).
 *
 * For a domain with map_pages/unmap_pages (io-pgtable-arm: the SMMUv3
 * domains of both profiles; the 6.12 VT-d and AMD v1 drivers) the iommu core
 * cuts an unmap into chunks, asking iommu_pgsize() for the page size and
 * count that fit what is *left* of the range:
 *
 *     while (unmapped < size) {
 *             size_t pgsize, count;
 *
 *             pgsize = iommu_pgsize(domain, iova, iova, size - unmapped, &count);
 *             unmapped_page = ops->unmap_pages(domain, iova, pgsize, count, iotlb_gather);
 *             if (!unmapped_page)
 *                     break;
 *             ...
 *             iova += unmapped_page;
 *             unmapped += unmapped_page;
 *     }
 *
 * THE FAULT: the loop hands iommu_pgsize() the whole `size` on every turn
 * (`iommu_pgsize(domain, iova, iova, size, &count)`) — the map loop next to
 * it decrements `size` itself, the unmap loop keeps it and counts `unmapped`,
 * and the two got mixed up. The first chunk is right (nothing unmapped yet);
 * a later chunk that starts on a large-page boundary with less than a large
 * page left is still sized from the full length, so the driver is told to
 * unmap a whole 2 MiB block there: io-pgtable-arm frees the last-level table
 * in that slot with everything it maps (or clears the block), 6.12 VT-d
 * clears the whole 2 MiB pfn range, 6.12 AMD clears all 512 entries.
 *
 * It shows only with two mappings: an unmapped range longer than a large page
 * whose end is not large-page aligned, and another mapping — another IOAS
 * area — in the same 2 MiB after its end. E.g. area A = [0x1ff000, 0x401000)
 * and area B = [0x401000, 0x402000): unmapping A also removes B's
 * translation from the domain.
 *
 * Consequence: B stays mapped in the IOAS (its pages pinned, IOMMU_IOAS_UNMAP
 * of it later succeeds) while the domain no longer translates it: the
 * device's DMA to B faults as unmapped and translate says unmapped; the
 * domain and the IOAS disagree, and iommu_unmap returns more than asked
 * (iommu_unmap_nofail only WARNs). The page-table code is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { AmdLegacyTable } from '../../../impl/pagetable/amd612.ts';
import { IntelLegacyTable } from '../../../impl/pagetable/intel612.ts';
import { ArmLpaeTable } from '../../../impl/pagetable/io_pgtable_arm.ts';
import { iommuPgsize, modPow2 } from '../../../impl/pagetable/pgsize.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iommu-unmap-pgsize-from-full-size', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!(pt instanceof ArmLpaeTable || pt instanceof IntelLegacyTable || pt instanceof AmdLegacyTable)) return;
      const drv = pt as unknown as { gather: IotlbGather | null };
      // The driver's unmap step: the iommu core's loop over unmap_pages, with the driver's gather set.
      patchOwn(pt, 'unmapNoSync', () => (iova: number, size: number, gather: IotlbGather): number => {
        const sizes = pt.pgsizeList;
        const min = 2 ** (sizes[0] as number);
        if (modPow2(iova, min) !== 0 || modPow2(size, min) !== 0) return 0;
        drv.gather = gather;
        let unmapped = 0;
        try {
          while (unmapped < size) {
            // THE FAULT: `size` where `size - unmapped` belongs.
            const [pgLg2, count] = iommuPgsize(sizes, iova, iova, size);
            if (count === 0) break;
            const n = pt.unmapPages(iova, pgLg2, count);
            if (n === 0) break;
            iova += n;
            unmapped += n;
          }
        } finally {
          drv.gather = null;
        }
        return unmapped;
      });
    },
  });
}
