/**
 * check-iova-area-before-reserved (drivers/iommu/iommufd/io_pagetable.c
 * iopt_check_iova, reached from iopt_alloc_area_pages for every fixed-IOVA
 * IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA).
 *
 * The kernel (6.12 and 7.3 alike):
 *
 *     static int iopt_check_iova(struct io_pagetable *iopt, unsigned long iova,
 *                                unsigned long length)
 *     {
 *             unsigned long last;
 *
 *             lockdep_assert_held(&iopt->iova_rwsem);
 *
 *             if ((iova & (iopt->iova_alignment - 1)))
 *                     return -EINVAL;
 *
 *             if (check_add_overflow(iova, length - 1, &last))
 *                     return -EOVERFLOW;
 *
 *             // No reserved IOVA intersects the range
 *             if (iopt_reserved_iter_first(iopt, iova, last))
 *                     return -EINVAL;
 *
 *             // Check that there is not already a mapping in the range
 *             if (iopt_area_iter_first(iopt, iova, last))
 *                     return -EEXIST;
 *             return 0;
 *     }
 *
 * The fault swaps the two interval-tree lookups (the area tree is looked at
 * first, e.g. by someone who moved "is it already mapped?" up as the common,
 * cheap case). Both still refuse, so nothing is ever mapped where it must not
 * be; only the errno of a fixed range that meets *both* an existing area and
 * a reserved range changes: EEXIST where the kernel answers EINVAL. Such a
 * range is one that starts in a mapping next to a reserved hole (a domain's
 * aperture edge, a device's MSI window or RMRR, a test reservation) and runs
 * into the hole, or the reverse — a map across a reserved hole.
 *
 * Observable: IOMMU_IOAS_MAP / IOMMU_IOAS_COPY with FIXED_IOVA, and
 * VFIO_IOMMU_MAP_DMA, over [area ∪ reserved] answer -EEXIST instead of
 * -EINVAL (userspace that treats EEXIST as "already mapped, fine" is misled).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EEXIST, EINVAL, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { copyHandler } from './_copy.ts';
import { ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';

/** iopt_check_iova with the area lookup moved before the reserved one. */
function checkIova(iopt: IoPagetable, iova: bigint, length: bigint): number {
  if (iova & BigInt(iopt.iovaAlignment - 1)) return -EINVAL;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  // THE FAULT: the area tree first ...
  if (ioptAreaIterFirst(iopt, iova, last)) return -EEXIST;
  // ... then the reserved tree.
  if (iopt.reserved.some((r) => r.start <= last && r.last >= iova)) return -EINVAL;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ checkIova });
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('check-iova-area-before-reserved', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
