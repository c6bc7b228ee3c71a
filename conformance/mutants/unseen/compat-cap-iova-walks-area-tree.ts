/**
 * R23-C3 — compat-cap-iova-walks-area-tree (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_fill_cap_iova, called by iommufd_vfio_iommu_get_info for
 * VFIO_IOMMU_GET_INFO on an iommufd used as a VFIO type1 container; 6.12 and
 * 7.3 alike).
 *
 * The type1 IOVA-range capability tells a VMM which IOVA it may use at all:
 * the holes of the compat IOAS's reserved tree — what every attached
 * device's reserved regions (the MSI window, RMRR-like ranges, the AMD
 * HyperTransport hole), every domain's aperture limits and the test
 * reservations take away. QEMU reads it once its container has a device and
 * checks the guest's RAM layout against it:
 *
 *     interval_tree_for_each_span(&span, &ioas->iopt.reserved_itree, 0,
 *                                 ULONG_MAX) {
 *             struct vfio_iova_range range;
 *
 *             if (!span.is_hole)
 *                     continue;
 *             range.start = span.start_hole;
 *             range.end = span.last_hole;
 *             ...
 *
 * THE FAULT: the iterator walks the IOAS's area tree — the span loop copied
 * from the IOVA allocator's, which walks areas and reservations together —
 * with only the tree argument left behind:
 *
 *     interval_tree_for_each_span(&span, &ioas->iopt.area_itree, 0,
 *                                 ULONG_MAX) {
 *
 * Nothing shows while the container is empty: both trees are empty and the
 * capability reports the whole 0..2^64-1. It shows after other commands on
 * other objects: once a device is attached to the compat IOAS (its reserved
 * regions and its domain's aperture enter the reserved tree) the capability
 * still reports the MSI doorbell window, the HT hole and the IOVA beyond the
 * domain's address width as usable; and once something is mapped
 * (VFIO_IOMMU_MAP_DMA, IOMMU_IOAS_MAP) the mapped ranges are reported as
 * unusable. A VMM places guest RAM over the MSI window (and its MAP_DMA then
 * fails) or refuses a memory layout that is valid; the VFIO_IOMMU_GET_INFO
 * answer disagrees with IOMMU_IOAS_IOVA_RANGES of the same IOAS.
 *
 * Applied as: VFIO_IOMMU_GET_INFO is the shared copy of
 * iommufd_vfio_iommu_get_info (_get_info.ts) whose IOVA-range capability is made from the
 * holes of the compat IOAS's areas instead of its reserved ranges;
 * everything else (flags, page sizes, DMA_AVAIL, the capability chain and
 * argsz) is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { holes, usedSpans } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { iommuGetInfoWith, KERNEL_CAP_IOVA } from './_get_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-cap-iova-walks-area-tree', profile, {
    compat: {
      // THE FAULT: the spans of &iopt->area_itree, not of the reserved tree.
      VFIO_IOMMU_GET_INFO: (ctx, d, arg) => iommuGetInfoWith(ctx, d, arg, { ...KERNEL_CAP_IOVA, ranges: (ioas) => holes(usedSpans([ioas.iopt.areas]), 0n, ULONG_MAX) }),
    },
  });
}
