/**
 * unmap-retry-count-not-reset (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached by IOMMU_IOAS_UNMAP and the VFIO type1
 * VFIO_IOMMU_UNMAP_DMA).
 *
 * When an area in the range is pinned by in-kernel accesses, the walk tells
 * the accesses to unpin and retries the same area; `tries` bounds the retries
 * of one area, and is reset whenever the walk reaches an area that does not
 * start where the previous step left off (6.12 and 7.3 alike):
 *
 *             if (area_first < start || area_last > last) {
 *                     rc = -ENOENT;
 *                     goto out_unlock_iova;
 *             }
 *
 *             if (area_first != start)
 *                     tries = 0;
 *
 *             if (area->num_accesses) {
 *                     size_t length = iopt_area_length(area);
 *
 *                     start = area_first;
 *                     area->prevent_access = true;
 *                     up_write(&iopt->iova_rwsem);
 *                     up_read(&iopt->domains_rwsem);
 *
 *                     iommufd_access_notify_unmap(iopt, area_first, length);
 *                     // Something is not responding to unmap requests.
 *                     tries++;
 *                     if (WARN_ON(tries > 100)) {
 *                             rc = -EDEADLOCK;
 *                             goto out_unmapped;
 *                     }
 *                     goto again;
 *             }
 *
 * The fault loses the reset (`if (area_first != start) tries = 0;` deleted):
 * the counter now counts every access notification of the whole unmap, not
 * the retries of one area.
 *
 * What a user sees: an IOMMU_IOAS_UNMAP (or unmap-all, or a type1
 * VFIO_IOMMU_UNMAP_DMA) over more than 100 areas that accesses pin, the areas
 * separated by gaps, fails -EDEADLOCK (with a kernel WARN) at the 101st such
 * area, after having unmapped the earlier ones, where the kernel unmaps them
 * all and answers success with the full length. (Areas that touch were never
 * reset in the kernel either; those answer alike.) IOAS destruction's
 * iopt_unmap_all is not patched here: an IOAS an access still uses cannot be
 * destroyed, so its walk never meets an access.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { HAS_ACCESSES, ioasUnmapWith, REFUSES_CUT, THE_AREA, unmapRange, vfioUnmapDmaWith } from './_unmap.ts';

/** iopt_unmap_iova_range without the per-area reset of the retry count. */
function walk(iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }): number {
  // THE FAULT: `if (area_first != start) tries = 0;` is gone.
  return unmapRange(iopt, start, last, unmapped, ioptAreaUnfillDomains, REFUSES_CUT, HAS_ACCESSES, THE_AREA, () => false);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-retry-count-not-reset', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(walk) },
    compat: { VFIO_IOMMU_UNMAP_DMA: vfioUnmapDmaWith(walk) },
  });
}
