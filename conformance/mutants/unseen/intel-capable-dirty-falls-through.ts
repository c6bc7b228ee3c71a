/**
 * intel-capable-dirty-falls-through (drivers/iommu/intel/iommu.c
 * intel_iommu_capable, reached through device_iommu_capable(); both profiles).
 *
 * The VT-d driver answers per capability; dirty tracking needs second-stage
 * A/D support in scalable mode on the device's own unit:
 *     switch (cap) {
 *     case IOMMU_CAP_CACHE_COHERENCY:
 *     case IOMMU_CAP_DEFERRED_FLUSH:
 *             return true;
 *     case IOMMU_CAP_PRE_BOOT_PROTECTION:
 *             return dmar_platform_optin();
 *     case IOMMU_CAP_ENFORCE_CACHE_COHERENCY:
 *             return ecap_sc_support(info->iommu->ecap);
 *     case IOMMU_CAP_DIRTY_TRACKING:
 *             return ssads_supported(info->iommu);
 *     default:
 *             return false;
 *     }
 * THE FAULT: the DIRTY_TRACKING label lands in the group of unconditional
 * capabilities (a rebase that moved the case up):
 *     case IOMMU_CAP_CACHE_COHERENCY:
 *     case IOMMU_CAP_DEFERRED_FLUSH:
 *     case IOMMU_CAP_DIRTY_TRACKING:
 *             return true;
 *
 * What a user sees: IOMMU_GET_HW_INFO reports IOMMU_HW_CAP_DIRTY_TRACKING in
 * out_capabilities for every VT-d device, also behind a unit without SSADS
 * (vtd1) or a device created without dirty tracking. A VMM that trusts the
 * bit plans live migration on dirty tracking and only finds out when
 * IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING gets past iommufd's
 * capability check and is refused by the driver's own SSADS test
 * (intel_iommu_domain_alloc_second_stage / 6.12 alloc_user: EOPNOTSUPP).
 *
 * Applied as: the VT-d driver's capable() answers true for DIRTY_TRACKING.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommuDriver } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel-capable-dirty-falls-through', profile, {
    machine: (m) => {
      const drivers = new Set<IommuDriver>([...m.instances.values()].map((i) => i.driver).filter((d) => d.name === 'intel'));
      for (const drv of drivers) {
        patchOwn(drv, 'capable', (capable) => (dev, cap) => {
          // THE FAULT: case IOMMU_CAP_DIRTY_TRACKING grouped with the unconditional "return true".
          if (cap === 'DIRTY_TRACKING') return true;
          return capable(dev, cap);
        });
      }
    },
  });
}
