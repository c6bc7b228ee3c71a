/**
 * unmap-prevent-access-before-cut-check (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP and the VFIO type1
 * compat VFIO_IOMMU_UNMAP_DMA; 6.12 and 7.3).
 *
 * area->prevent_access is the one-way switch that stops in-kernel accesses
 * (an mdev-style driver, the selftest access) from pinning or reading an
 * area: iommufd_access_pin_pages() and iommufd_access_rw() answer -EINVAL
 * for it, and iopt_area_split() -EBUSY. Nothing ever clears it, so the
 * unmap walk sets it only on an area it has decided to tear down — one that
 * lies wholly inside the range and that accesses still pin:
 *
 *     if (area_first < start || area_last > last) {
 *             rc = -ENOENT;
 *             goto out_unlock_iova;
 *     }
 *
 *     if (area_first != start)
 *             tries = 0;
 *
 *     if (area->num_accesses) {
 *             size_t length = iopt_area_length(area);
 *
 *             start = area_first;
 *             area->prevent_access = true;
 *             up_write(&iopt->iova_rwsem);
 *             up_read(&iopt->domains_rwsem);
 *
 *             iommufd_access_notify_unmap(iopt, area_first, length);
 *             ...
 *             goto again;
 *     }
 *
 * THE FAULT closes a "window" nobody needed closed: the store is hoisted to
 * the top of the loop body, with the other per-area gates, so that "no new
 * access can start on an area the unmap has reached":
 *
 *     if (area->num_locks) {
 *             rc = -EBUSY;
 *             goto out_unlock_iova;
 *     }
 *
 *     area->prevent_access = true;
 *
 *     if (area_first < start || area_last > last) {
 *             rc = -ENOENT;
 *             goto out_unlock_iova;
 *     }
 *     ...
 *     if (area->num_accesses) {
 *             start = area_first;
 *             ...
 *
 * Every area the walk goes on to remove is removed as before, so every
 * successful unmap answers and behaves exactly as the kernel's. But an
 * unmap that is refused because its range cuts an area (ENOENT: the range
 * starts or ends inside a mapping — which IOMMU_IOAS_UNMAP never splits)
 * leaves that area, still mapped and still in every domain, marked
 * prevent_access for good. Nothing else differs at that command: it fails
 * as it should and removes what the kernel removes.
 *
 * Why it takes several commands and two objects: a map, a refused partial
 * unmap of it, and then an in-kernel user of the same IOAS. From then on
 * the mapping is dead to accesses: IOMMU_TEST_OP_ACCESS_PAGES and
 * IOMMU_TEST_OP_ACCESS_RW (an emulated device's pins and reads/writes, a
 * vfio-ap/ccw/GVT-g driver's) of any part of it fail with EINVAL, although
 * the IOAS maps it readable and writable and a DMA device still reaches it;
 * a VFIO type1 v1 partial unmap that would cut it fails with EBUSY. Only
 * unmapping the whole area (and mapping it again) recovers.
 *
 * Applied as: IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA are served by the
 * shared copies of iommufd_ioas_unmap / iommufd_vfio_unmap_dma (_unmap.ts)
 * over the shared walk, whose cut test first marks the area (the store hoisted).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasUnmapWith, REFUSES_CUT, unmapRange, vfioUnmapDmaWith, type Cuts, type RangeUnmap } from './_unmap.ts';

/** THE FAULT: the area is marked before the walk knows it will tear it down (the cut test comes after). */
const markThenTestCut: Cuts = (areaFirst, areaLast, start, last, area) => {
  area.preventAccess = true;
  return REFUSES_CUT(areaFirst, areaLast, start, last, area);
};

/** iopt_unmap_iova_range with prevent_access set on every area the walk reaches. */
const walk: RangeUnmap = (iopt, first, last, unmapped) => unmapRange(iopt, first, last, unmapped, ioptAreaUnfillDomains, markThenTestCut);

export function createAdapter(profile: Profile): Implementation {
  const vfioUnmap = vfioUnmapDmaWith(walk);
  return mutantImplementation('unmap-prevent-access-before-cut-check', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(walk) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg) },
  });
}
