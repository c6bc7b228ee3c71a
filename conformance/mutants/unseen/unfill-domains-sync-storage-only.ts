/**
 * unfill-domains-sync-storage-only (drivers/iommu/iommufd/pages.c
 * iopt_area_unfill_domains, reached from iopt_unmap_iova_range on
 * IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA).
 *
 * An area of an IOAS with several paging domains (several HWPTs: devices
 * behind IOMMUs that cannot share a domain, or IOMMU_HWPT_ALLOC per device)
 * is mapped in every domain but its PFNs are read back and unpinned through
 * one of them, its storage domain. Teardown unmaps the others first, then
 * unmaps and unpins through the storage domain:
 *
 *     xa_for_each(&iopt->domains, index, domain) {
 *             if (domain == area->storage_domain)
 *                     continue;
 *
 *             if (!iopt_dmabuf_revoked(pages))
 *                     iopt_area_unmap_domain_range(
 *                             area, domain, iopt_area_index(area),
 *                             iopt_area_last_index(area));
 *     }
 *     ...
 *     iopt_area_unfill_domain(area, pages, area->storage_domain);
 *
 * where iopt_area_unmap_domain_range → iommu_unmap_nofail → iommu_unmap()
 * is iommu_unmap_fast() followed by iommu_iotlb_sync() on that domain: each
 * domain's IOTLB (its DID / domain id / ASID tag) is invalidated before the
 * pages are unpinned.
 *
 * The fault is a batching rework of that loop: the other domains are
 * unmapped with iommu_unmap_fast() into one on-stack gather, and the gather
 * is synced once, after the storage domain's teardown, with
 *
 *             iommu_iotlb_sync(area->storage_domain, &gather);
 *
 * An iotlb_gather carries an IOVA range and freed tables, not a domain: the
 * invalidation goes to the storage domain's tag only. The page tables of the
 * other domains are correct, but translations their devices had cached for
 * the area stay in the IOTLB.
 *
 * Consequence: with two HWPTs on one IOAS, after IOMMU_IOAS_UNMAP (or a
 * VFIO type1 unmap) returns, a device attached through the HWPT that is not
 * the area's storage domain — the one added later — can still read and write
 * the unmapped IOVA through its IOTLB, to pages iommufd has just unpinned
 * and uncharged (once the process frees them, DMA reaches whoever gets the
 * frames). Page-table walks (translate) say unmapped; the device's DMA and
 * the IOMMU's IOTLB say otherwise until something else flushes that tag (a
 * later unmap of the same range in the other domain, a detach, the domain's
 * destruction). With a single domain, or for the storage domain's own
 * devices, nothing changes.
 *
 * Applied as: IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA through copies of
 * the reference's unmap walk (_unmap.ts) whose iopt_area_unfill_domains
 * unmaps every domain but the storage domain (the IOAS's first, as the
 * reference keeps it) from its page table without an IOTLB sync; the table
 * pages such an unmap frees are left to the storage domain's sync, which
 * does not flush the other domain's caches (they are not returned to the
 * allocator here, so no walk can reach reused memory).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoptDomain } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommuDomain } from '../../../impl/platform/index.ts';
import { ioptAreaUnmapDomain, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation } from '../harness.ts';
import { unmapHandler, unmapRange, vfioUnmapDmaWith, type Unfill } from './_unmap.ts';

/** iommu_unmap_fast of [iova, iova + size) into a gather that is never synced against this domain. */
function unmapFast(domain: IoptDomain, iova: bigint, size: number): void {
  const hw = (domain as IommuDomain).hw;
  const pt = hw?.pt;
  // No page table of its own (the 6.12 selftest's sparse mock): no IOTLB to leave behind.
  if (!pt || iova + BigInt(size) > 2n ** 53n) {
    domain.unmap(iova, size);
    return;
  }
  const gather = new IotlbGather();
  pt.unmapNoSync(Number(iova), size, gather);
}

/** iopt_area_unfill_domains with the other domains' unmaps synced against the storage domain. */
const unfill: Unfill = (iopt, area, pages) => {
  if (!area.filled) return;
  const storage = iopt.domains[0];
  for (const domain of iopt.domains) {
    if (domain === storage) continue;
    // THE FAULT: iommu_unmap_fast(domain, ..., &gather) — the gather is synced with the storage domain.
    unmapFast(domain, area.start, Number(area.length));
  }
  if (storage) ioptAreaUnmapDomain(area, storage);
  ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
  area.filled = false;
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unfill-domains-sync-storage-only', profile, {
    handlers: { IOMMU_IOAS_UNMAP: unmapHandler(unfill) },
    compat: { VFIO_IOMMU_UNMAP_DMA: vfioUnmapDmaWith((iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, unfill)) },
  });
}
