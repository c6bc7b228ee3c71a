/**
 * smmu-alloc-user-data-ignored — drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_domain_alloc_user() (6.12) / arm_smmu_domain_alloc_paging_flags()
 * (7.3). Both profiles.
 *
 * A paging domain takes no driver data; the kernel refuses any:
 *
 *     6.12:  if (parent || user_data)
 *                    return ERR_PTR(-EOPNOTSUPP);
 *     7.3:   if ((flags & ~PAGING_FLAGS) || user_data)
 *                    return ERR_PTR(-EOPNOTSUPP);
 *
 * THE FAULT: the user_data test is dropped (6.12: `if (parent)`), so an
 * IOMMU_HWPT_ALLOC on an IOAS with a data_type (e.g. IOMMU_HWPT_DATA_VTD_S1
 * or IOMMU_HWPT_DATA_ARM_SMMUV3 with a stage-1 STE the VMM expects to be
 * installed) silently gets a plain stage-1 paging domain: the user's table
 * description is ignored and the call succeeds.
 *
 * What a user sees: IOMMU_HWPT_ALLOC(dev_id = an smmu0 device, pt_id = an
 * IOAS, data_type != NONE, data_len > 0) answers 0 and an HWPT id instead of
 * EOPNOTSUPP.
 *
 * Applied as: the smmuv3 driver's domainAllocPaging sees no data.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-alloc-user-data-ignored', profile, {
    machine: (m) => {
      for (const inst of m.instances.values()) {
        const drv = inst.driver;
        if (drv.name !== 'smmuv3' || Object.prototype.hasOwnProperty.call(drv, '__rt43b')) continue;
        Object.defineProperty(drv, '__rt43b', { value: true });
        // THE FAULT: `if (parent)` / `if (flags & ~PAGING_FLAGS)` without `|| user_data`.
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, _data) => alloc(dev, flags, undefined));
      }
    },
  });
}
