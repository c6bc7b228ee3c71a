/**
 * amd-nest-parent-gt-unchecked (drivers/iommu/amd/iommu.c:
 * amd_iommu_domain_alloc_paging_flags() — 7.3, IOMMU_HWPT_ALLOC with
 * IOMMU_HWPT_ALLOC_NEST_PARENT for a device behind an AMD unit).
 *
 * The kernel, 7.3:
 *
 *     case IOMMU_HWPT_ALLOC_NEST_PARENT: ...
 *             if ((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
 *                 !amd_iommu_hd_support(iommu))
 *                     break;
 *             if ((flags & IOMMU_HWPT_ALLOC_NEST_PARENT) &&
 *                 !is_nest_parent_supported(flags))
 *                     break;          // -> ERR_PTR(-EOPNOTSUPP)
 *             return amd_iommu_domain_alloc_paging_v1(dev, flags);
 *
 * where is_nest_parent_supported() refuses NEST_PARENT unless the unit has
 * guest translation (FEATURE_GT, GIOSUP, GCR3TRPMODE). THE FAULT drops the
 * NEST_PARENT test (the two feature tests sit side by side in the v1 case;
 * a rebase keeping only the dirty-tracking one), so a unit without guest
 * translation hands out a v1 domain flagged as a nesting parent.
 *
 * Observable: IOMMU_HWPT_ALLOC(flags NEST_PARENT) for a device on amd0
 * (no nesting) succeeds and returns a HWPT where the kernel answers
 * EOPNOTSUPP. Profile 7.3 only (6.12 AMD refuses NEST_PARENT as an
 * unsupported flag).
 *
 * Applied as: the AMD driver's domainAllocPaging sees the device's unit as
 * nesting-capable.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-nest-parent-gt-unchecked', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const drivers = new Set([...m.instances.values()].map((i) => i.driver).filter((d) => d.name === 'amd'));
      for (const drv of drivers) {
        patchOwn(drv, 'domainAllocPaging', (orig) => (dev, flags, data) => {
          if (!(flags & IOMMU_HWPT_ALLOC_NEST_PARENT) || dev.iommu.config.nesting) return orig(dev, flags, data);
          // THE FAULT: no is_nest_parent_supported() — the unit's guest-translation support is not asked.
          const iommu = Object.assign(Object.create(Object.getPrototypeOf(dev.iommu) as object) as typeof dev.iommu, dev.iommu, { config: { ...dev.iommu.config, nesting: true } });
          const view = Object.assign(Object.create(Object.getPrototypeOf(dev) as object) as SimDevice, dev, { iommu });
          return orig(view, flags, data);
        });
      }
    },
  });
}
