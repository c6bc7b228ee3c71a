/**
 * vtd-hw-info-in-type-unchecked (drivers/iommu/intel/iommu.c:
 * intel_iommu_hw_info() — 7.3, IOMMU_GET_HW_INFO with
 * IOMMU_HW_INFO_FLAG_INPUT_TYPE and an in_data_type of another vendor).
 *
 * The kernel, 7.3:
 *
 *     if (*type != IOMMU_HW_INFO_TYPE_DEFAULT &&
 *         *type != IOMMU_HW_INFO_TYPE_INTEL_VTD)
 *             return ERR_PTR(-EOPNOTSUPP);
 *
 * A caller that asks for a specific type (in_data_type, with the INPUT_TYPE
 * flag) must get that layout or EOPNOTSUPP: userspace (a VMM probing for
 * the ARM SMMUv3 or AMD layout) parses the returned bytes as the type it
 * asked for. THE FAULT drops the requested-type test (the driver was written
 * before the INPUT_TYPE flag existed and always filled its own struct; the
 * backport of the flag updated the other drivers but not this one), so any
 * requested type gets struct iommu_hw_info_vtd with out_data_type INTEL_VTD.
 *
 * Observable: IOMMU_GET_HW_INFO on a VT-d device with
 * IOMMU_HW_INFO_FLAG_INPUT_TYPE and in_data_type = ARM_SMMUV3 / AMD /
 * SELFTEST succeeds (type INTEL_VTD, 24 bytes) where the kernel answers
 * EOPNOTSUPP. Profile 7.3 only (6.12 has no input type).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HW_INFO_TYPE_DEFAULT } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-hw-info-in-type-unchecked', profile, {
    // THE FAULT: the requested type is not compared; the driver answers with its own.
    machine: (m) => patchDriverHwInfo(m, 'intel', (hwInfo) => (dev, _inType) => hwInfo(dev, IOMMU_HW_INFO_TYPE_DEFAULT)),
  });
}
