/**
 * compat-cap-iova-range-bound-short (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_fill_cap_iova, reached from iommufd_vfio_iommu_get_info).
 *
 * VFIO_IOMMU_GET_INFO on an iommufd-served container appends the
 * VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE capability when argsz leaves room. Its
 * ranges go out one by one, each only when the space the user gave covers it
 * (6.12 and 7.3 alike):
 *
 *     interval_tree_for_each_span(&span, &ioas->iopt.reserved_itree, 0,
 *                                 ULONG_MAX) {
 *             ...
 *             if (avail >= struct_size(&cap_iovas, iova_ranges,
 *                                      cap_iovas.nr_iovas + 1) &&
 *                 copy_to_user(&ucap_iovas->iova_ranges[cap_iovas.nr_iovas],
 *                              &range, sizeof(range)))
 *                     return -EFAULT;
 *             cap_iovas.nr_iovas++;
 *     }
 *
 * The fault is the classic off-by-one of that bound: the room test is made
 * with `struct_size(&cap_iovas, iova_ranges, cap_iovas.nr_iovas)` (the size
 * *before* this range) instead of `nr_iovas + 1` (the size including it). When
 * argsz ends inside the IOVA-range capability, the range that straddles the
 * end of the user's buffer is still copied: 16 bytes written past argsz (the
 * capability header itself is still held back, its own test is unchanged).
 *
 * Observable: a GET_INFO whose argsz covers the info struct, the DMA_AVAIL
 * capability and part of the IOVA-range capability (e.g. argsz = 56 with one
 * or more IOVA holes) writes bytes of the caller's memory beyond argsz — the
 * kernel never touches memory past argsz. A VMM that sizes its buffer from a
 * first probe is not hit; one that passes a fixed, too small buffer inside a
 * larger allocation (or at the end of a mapping: EFAULT instead of success)
 * is.
 *
 * Applied as: VFIO_IOMMU_GET_INFO on an iommufd file is the shared copy of
 * iommufd_vfio_iommu_get_info (_get_info.ts) with that bound.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { iommuGetInfoWith, KERNEL_CAP_IOVA } from './_get_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-cap-iova-range-bound-short', profile, {
    compat: {
      // THE FAULT: struct_size(..., nr_iovas) instead of struct_size(..., nr_iovas + 1).
      VFIO_IOMMU_GET_INFO: (ctx, d, arg) => iommuGetInfoWith(ctx, d, arg, { ...KERNEL_CAP_IOVA, roomFor: (i) => i }),
    },
  });
}
