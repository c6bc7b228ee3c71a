/**
 * amd-hw-info-in-type-unchecked — drivers/iommu/amd/iommufd.c amd_iommufd_hw_info (7.3 only;
 * 6.12 AMD has no hw_info op).
 *
 * With IOMMU_HW_INFO_FLAG_INPUT_TYPE the caller names the info type it wants
 * (in_data_type); a driver must refuse a type it does not report:
 *
 *     if (*type != IOMMU_HW_INFO_TYPE_DEFAULT &&
 *         *type != IOMMU_HW_INFO_TYPE_AMD)
 *             return ERR_PTR(-EOPNOTSUPP);
 *     ...
 *     *type = IOMMU_HW_INFO_TYPE_AMD;
 *
 * THE FAULT: the input-type test is missing (as if the function predated the
 * in_data_type extension), so any requested type is answered with the AMD
 * struct and out_data_type = IOMMU_HW_INFO_TYPE_AMD.
 *
 * What a user sees: IOMMU_GET_HW_INFO on an AMD device with
 * flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE and in_data_type =
 * IOMMU_HW_INFO_TYPE_INTEL_VTD (or ARM_SMMUV3, TEGRA241_CMDQV, ...) succeeds and
 * copies 16 bytes of EFR/EFR2 into a buffer the caller sized and will parse as
 * the type it asked for, instead of EOPNOTSUPP (which is how a VMM probes which
 * types a device supports).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HW_INFO_TYPE_DEFAULT } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-hw-info-in-type-unchecked', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      // THE FAULT: *type is not checked; every request is served as DEFAULT/AMD.
      patchDriverHwInfo(m, 'amd', (hwInfo) => (dev, _inType) => hwInfo(dev, IOMMU_HW_INFO_TYPE_DEFAULT));
    },
  });
}
