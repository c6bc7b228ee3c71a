/**
 * Round 6b fault (drivers/iommu/generic_pt/iommu_pt.h map_range / pt_iommu
 * map_pages, the end of the function).
 *
 * A map whose best page size is larger than the leaf level present may find
 * an empty lower-level table in the slot where the large leaf goes
 * (clear_contig): the table is unlinked and put on the gather's free list,
 * and map_range ends with
 *     if (!iommu_pages_list_empty(&iotlb_gather.freelist))
 *             iommu_iotlb_sync(&iommu_table->domain, &iotlb_gather);
 * so the IOMMU's walk caches forget the table pointer before the page is
 * freed. The fault frees the list without the sync
 * (iommu_put_pages_list(&iotlb_gather.freelist)): the unit's paging-structure
 * cache still holds the old table descriptor for that IOVA. A device access
 * there walks the freed (and soon reused) page instead of the new large
 * leaf: it faults where the mapping exists, or, once the page holds another
 * table or data, reaches memory the domain does not map.
 *
 * Applied as: while a paging domain's table maps, its sync frees the gather's
 * tables without calling the owner's invalidation (onFlush).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('map-superpage-no-flush', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt) return;
      let inMap = 0;
      patchOwn(pt, 'map', (map) => (iova: number, pa: number, len: number, prot: number) => {
        inMap++;
        try {
          return map(iova, pa, len, prot);
        } finally {
          inMap--;
        }
      });
      patchOwn(pt, 'mapWide', (map) => (iova: bigint, pa: number, len: number, prot: number) => {
        inMap++;
        try {
          return map(iova, pa, len, prot);
        } finally {
          inMap--;
        }
      });
      patchOwn(pt, 'sync', (sync) => (g: IotlbGather) => {
        if (inMap === 0) return sync(g);
        // THE FAULT: iommu_put_pages_list(&iotlb_gather.freelist) instead of iommu_iotlb_sync().
        const flush = pt.onFlush;
        pt.onFlush = null;
        try {
          sync(g);
        } finally {
          pt.onFlush = flush;
        }
      });
    },
  });
}
