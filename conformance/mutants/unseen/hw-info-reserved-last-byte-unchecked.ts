/**
 * hw-info-reserved-last-byte-unchecked (drivers/iommu/iommufd/device.c,
 * iommufd_get_hw_info).
 *
 * struct iommu_hw_info ends its input part with `__u8 out_max_pasid_log2;
 * __u8 __reserved[3];` (the old `__u32 __reserved` split when the PASID width
 * was added), and IOMMU_GET_HW_INFO refuses any non-zero reserved byte before
 * it looks the device up. 6.12:
 *
 *     if (cmd->flags || cmd->__reserved[0] || cmd->__reserved[1] ||
 *         cmd->__reserved[2])
 *             return -EOPNOTSUPP;
 *
 * 7.3 (after the INPUT_TYPE flag test):
 *
 *     if (cmd->__reserved[0] || cmd->__reserved[1] || cmd->__reserved[2])
 *             return -EOPNOTSUPP;
 *
 * The fault tests __reserved[0] and __reserved[1] only: the element-by-element
 * test of the three-byte array written one element short, the kind of slip a
 * u32 → u8[3] conversion invites (and that a reviewer reads past, as the line
 * break falls right where the third term should be).
 *
 * Observable: IOMMU_GET_HW_INFO on a bound device with __reserved[2] != 0 (and
 * the other two bytes zero) succeeds and reports the device's data, type,
 * capabilities and PASID width instead of failing EOPNOTSUPP; the byte the
 * caller set is written back unchanged with the rest of the struct. Such a
 * byte is exactly what a later kernel may give a meaning to (as
 * out_max_pasid_log2 took the first byte of the old u32), so a kernel that
 * accepts it today lets userspace depend on a bit the ABI reserved.
 *
 * Applied as: _hw_info.ts's iommufd_get_hw_info with the reserved test on
 * the first two bytes; everything after it is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { getHwInfoWith } from './_hw_info.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-reserved-last-byte-unchecked', profile, {
    // THE FAULT: `|| cmd->__reserved[2]` is missing from the reserved test (iommufd_get_hw_info).
    handlers: { IOMMU_GET_HW_INFO: getHwInfoWith({ reservedChecked: 2 }) },
  });
}
