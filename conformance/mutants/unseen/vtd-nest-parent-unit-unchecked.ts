/**
 * vtd-nest-parent-unit-unchecked — drivers/iommu/intel/iommu.c
 * intel_iommu_domain_alloc_paging_flags (7.3 only; the 6.12 counterpart,
 * intel_iommu_domain_alloc_user, is a different function and is not touched).
 *
 * Correct kernel code (7.3):
 *
 *     if (flags & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING |
 *                   IOMMU_HWPT_ALLOC_PASID))
 *             return ERR_PTR(-EOPNOTSUPP);
 *     if (nested_parent && !nested_supported(iommu))
 *             return ERR_PTR(-EOPNOTSUPP);
 *
 * THE FAULT: the nested_supported(iommu) test is lost (a refactor moved it to
 * paging_domain_compatible_second_stage only), so a NEST_PARENT second-stage
 * domain is allocated for a device whose DMAR unit has no ecap.NEST (vtd1).
 *
 * What a user sees: IOMMU_HWPT_ALLOC(flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
 * dev_id = a vtd1 device, pt_id = an IOAS) succeeds with a new HWPT id
 * instead of EOPNOTSUPP; the device is told it has a nesting parent on a unit
 * that cannot walk nested tables.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-nest-parent-unit-unchecked', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'intel') continue;
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
          if (!(flags & IOMMU_HWPT_ALLOC_NEST_PARENT) || dev.iommu.config.nesting) return alloc(dev, flags, data);
          // THE FAULT: nested_supported(iommu) is not tested — the reference's own allocation,
          // run as for a unit that has NEST.
          const cfg = { ...dev.iommu.config, nesting: true };
          const proxy = Object.create(dev, { iommu: { value: Object.create(dev.iommu, { config: { value: cfg } }) } });
          return alloc(proxy, flags, data);
        });
      }
    },
  });
}
