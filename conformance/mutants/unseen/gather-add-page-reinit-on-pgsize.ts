/**
 * gather-add-page-reinit-on-pgsize (include/linux/iommu.h
 * iommu_iotlb_gather_add_page, as SMMUv3's io-pgtable TLB callback
 * arm_smmu_tlb_inv_page_nosync calls it for every leaf __arm_lpae_unmap
 * clears).
 *
 * The gather of one iommu_unmap holds one range and one page size, so a leaf
 * of another size (or a disjoint one) must first flush what is gathered:
 *     if ((gather->pgsize && gather->pgsize != size) ||
 *         iommu_iotlb_gather_is_disjoint(gather, iova, size))
 *             iommu_iotlb_sync(domain, gather);
 *     gather->pgsize = size;
 *     iommu_iotlb_gather_add_range(gather, iova, size);
 * The fault starts the gather over instead of syncing it when the page size
 * changes (iommu_iotlb_gather_init(gather) where iommu_iotlb_sync(domain,
 * gather) belongs — the "reset for the new granule" half of the sync without
 * its TLBI): the range gathered so far is dropped, never invalidated. The
 * disjoint case still syncs.
 *
 * Consequence: an unmap that clears leaves of two sizes — the iommu core's
 * unmap loop (__iommu_unmap) hands io-pgtable one page size per
 * unmap_pages call, e.g. a 2 MiB block and then the 4 KiB pages after it
 * for an area of 2 MiB + 8 KiB mapped at a 2 MiB-aligned IOVA from
 * hugepage-backed memory, or 4 KiB pages up to a 2 MiB boundary and then a
 * block — invalidates only the part cleared last. Translations an SMMUv3
 * device cached for the earlier part (typically the whole 2 MiB block)
 * survive IOMMU_IOAS_UNMAP: the device keeps reading and writing pages the
 * IOAS no longer maps and iommufd has unpinned, or the old pages behind an
 * IOVA mapped again to something else.
 *
 * Applied as: on every SMMUv3 paging domain's io-pgtable, an unmap_pages
 * call of another page size than the leaves already gathered by the same
 * iommu_unmap first empties the gather without flushing it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import type { ArmLpaeTable } from '../../../impl/pagetable/io_pgtable_arm.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('gather-add-page-reinit-on-pgsize', profile, {
    domain: (d) => {
      if (d.owner.name !== 'smmuv3') return;
      const table = d.hw?.pt;
      if (!table || typeof (table as { unmapPages?: unknown }).unmapPages !== 'function') return;
      const pt = table as unknown as ArmLpaeTable;
      /** The gather of the iommu_unmap in progress (io_pgtable's private cookie). */
      const current = (): IotlbGather | null => (table as unknown as { gather: IotlbGather | null }).gather;
      /** gather->pgsize of the gather being filled (lg2), while it is not empty. */
      const pgsize = new WeakMap<IotlbGather, number>();
      patchOwn(pt, 'unmapPages', (unmapPages) => (iova: number, pgLg2: number, pgcount: number) => {
        const g = current();
        if (g !== null && !g.empty && pgsize.get(g) !== undefined && pgsize.get(g) !== pgLg2) {
          // THE FAULT: iommu_iotlb_gather_init(gather) instead of iommu_iotlb_sync(domain, gather).
          g.reset();
        }
        const n = unmapPages(iova, pgLg2, pgcount);
        if (g !== null) {
          if (g.empty) pgsize.delete(g);
          else if (n > 0) pgsize.set(g, pgLg2);
        }
        return n;
      });
    },
  });
}
