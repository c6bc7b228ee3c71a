/**
 * smmu-hw-info-foreign-type-falls-through (drivers/iommu/arm/arm-smmu-v3/
 * arm-smmu-v3-iommufd.c, arm_smmu_hw_info; 7.3 only: 6.12's SMMUv3 has no
 * hw_info and no IOMMU_HW_INFO_FLAG_INPUT_TYPE).
 *
 * The kernel's type dispatch at the top of arm_smmu_hw_info:
 *
 *     if (*type != IOMMU_HW_INFO_TYPE_DEFAULT &&
 *         *type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
 *             if (!impl_ops || !impl_ops->hw_info)
 *                     return ERR_PTR(-EOPNOTSUPP);
 *             return impl_ops->hw_info(master->smmu, length, type);
 *     }
 *
 *     info = kzalloc_obj(*info);
 *     ... IDR0..5, IIDR, AIDR ...
 *     *type = IOMMU_HW_INFO_TYPE_ARM_SMMUV3;
 *
 * The fault folds the two tests into "hand foreign types to the
 * implementation if it has a hook" —
 *
 *     if (... && impl_ops && impl_ops->hw_info)
 *             return impl_ops->hw_info(master->smmu, length, type);
 *
 * — losing the -EOPNOTSUPP: on an SMMU without implementation ops (no
 * Tegra241 CMDQV) a request for any other type (INTEL_VTD, AMD, SELFTEST,
 * TEGRA241_CMDQV, an unknown value) falls through and is answered with the
 * SMMUv3 registers, out_data_type rewritten to ARM_SMMUV3.
 *
 * Observable: IOMMU_GET_HW_INFO with IOMMU_HW_INFO_FLAG_INPUT_TYPE and an
 * in_data_type other than DEFAULT / ARM_SMMUV3 on an smmu0 device succeeds
 * (out_data_type ARM_SMMUV3, data_len and the IDR words filled) where the
 * kernel answers EOPNOTSUPP and copies nothing.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HW_INFO_TYPE_ARM_SMMUV3 } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-hw-info-foreign-type-falls-through', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      // THE FAULT: no implementation ops, so a foreign in_data_type is not refused but
      // falls through to the SMMUv3 answer (DEFAULT and ARM_SMMUV3 answer as before).
      patchDriverHwInfo(m, 'smmuv3', (hwInfo) => (dev, _inType) => hwInfo(dev, IOMMU_HW_INFO_TYPE_ARM_SMMUV3));
    },
  });
}
