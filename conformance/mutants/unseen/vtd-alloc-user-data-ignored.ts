/**
 * vtd-alloc-user-data-ignored — drivers/iommu/intel/iommu.c
 * intel_iommu_domain_alloc_paging_flags (7.3; 6.12: intel_iommu_domain_alloc_user).
 *
 * A paging (non-nested) domain takes no driver data: the VT-d driver refuses
 * any struct iommu_user_data the core hands it for an IOAS-parented
 * IOMMU_HWPT_ALLOC (data_type != IOMMU_HWPT_DATA_NONE):
 *
 *     7.3:  if (user_data)
 *                   return ERR_PTR(-EOPNOTSUPP);
 *     6.12: if (user_data || (dirty_tracking && !ssads_supported(iommu)))
 *                   return ERR_PTR(-EOPNOTSUPP);
 *
 * THE FAULT: the user_data test is dropped (a refactor that moved the check
 * into the nested path only), so the driver allocates an ordinary second-stage
 * domain and silently ignores whatever the caller asked for in the data
 * (e.g. an IOMMU_HWPT_DATA_VTD_S1 stage-1 description: the caller believes it
 * got a nested/first-stage HWPT, but it got a plain paging HWPT on the IOAS).
 *
 * What a user sees: IOMMU_HWPT_ALLOC with pt_id = an IOAS, a VT-d device and
 * data_type = IOMMU_HWPT_DATA_VTD_S1 (data_len/uptr valid) succeeds with a new
 * HWPT id instead of failing with EOPNOTSUPP. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-alloc-user-data-ignored', profile, {
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'intel') continue;
        // THE FAULT: user_data is not tested; the allocation proceeds as if none was given.
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, _data) => alloc(dev, flags, undefined));
      }
    },
  });
}
