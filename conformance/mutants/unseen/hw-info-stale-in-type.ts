/**
 * hw-info-stale-in-type (drivers/iommu/iommufd/device.c
 * iommufd_get_hw_info, IOMMU_GET_HW_INFO; 7.3 only: 6.12 has no
 * IOMMU_HW_INFO_FLAG_INPUT_TYPE and no input type).
 *
 * Since 7.3 the type member of struct iommu_hw_info is bidirectional:
 *
 *     union {
 *             __u32 in_data_type;
 *             __u32 out_data_type;
 *     };
 *
 * "When IOMMU_HW_INFO_FLAG_INPUT_TYPE is set, an input type carried via this
 * @in_data_type field will be valid ... If IOMMU_HW_INFO_FLAG_INPUT_TYPE is
 * unset, any input value will be seen as IOMMU_HW_INFO_TYPE_DEFAULT". The
 * kernel enforces the second half before it asks the driver:
 *
 *     if (cmd->flags & ~SUPPORTED_FLAGS)
 *             return -EOPNOTSUPP;
 *     if (cmd->__reserved[0] || cmd->__reserved[1] || cmd->__reserved[2])
 *             return -EOPNOTSUPP;
 *
 *     // Clear the type field since drivers don't support a random input
 *     if (!(cmd->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE))
 *             cmd->in_data_type = IOMMU_HW_INFO_TYPE_DEFAULT;
 *     ...
 *     data = ops->hw_info(idev->dev, &data_len, &cmd->out_data_type);
 *
 * THE FAULT drops the clearing (the flag "selects the input type", so
 * without it the field is assumed to be the DEFAULT 0 a caller leaves
 * there): the driver is handed whatever the member holds, and every driver
 * refuses a type that is neither DEFAULT nor its own (mock_domain_hw_info,
 * intel_iommu_hw_info, arm_smmu_hw_info, amd_iommu_hw_info:
 * `if (*type != IOMMU_HW_INFO_TYPE_DEFAULT && *type != IOMMU_HW_INFO_TYPE_X)
 * return ERR_PTR(-EOPNOTSUPP)`).
 *
 * The member is where the previous answer lands: out_data_type. A caller
 * that keeps one struct iommu_hw_info and asks about its devices in turn
 * (set dev_id, call, read data and capabilities, next device: what a VMM
 * enumerating its assigned devices does, and what 6.12 allowed, where the
 * member was output only) carries the first device's type into the second
 * call. Asked about a device of the same driver, nothing shows; asked about
 * a device behind another IOMMU driver (a mock device after a VT-d one, an
 * SMMUv3 device after an AMD one), IOMMU_GET_HW_INFO fails EOPNOTSUPP where
 * the kernel answers with that device's data — the VMM concludes the device
 * has no IOMMU information and (for instance) gives up nesting or dirty
 * tracking for it. The first call with a zeroed struct is right; only the
 * second command, on another device, shows it.
 *
 * Applied as: IOMMU_GET_HW_INFO answered by a copy of the reference's
 * iommufd_get_hw_info without the clearing of the input type.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { getHwInfoWith } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-stale-in-type', profile, {
    // THE FAULT: no `if (!(cmd->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE)) cmd->in_data_type = IOMMU_HW_INFO_TYPE_DEFAULT;`
    handlers: profile === '7.3' ? { IOMMU_GET_HW_INFO: getHwInfoWith({ defaultInputType: false }) } : {},
  });
}
