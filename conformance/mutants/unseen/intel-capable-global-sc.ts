/**
 * L4 — intel-capable-global-sc (intel_iommu_capable IOMMU_CAP_ENFORCE_CACHE_COHERENCY).
 *
 * Snoop control (ecap.SC) is per DMAR unit; capable() must answer for the
 * unit the device sits behind (ecap_sc_support(info->iommu->ecap)). The fault
 * answers from a system-wide flag (the pre-5.19 domain_update_iommu_snooping
 * style, here "some DMAR unit has SC"): a device behind a unit without snoop
 * control reports ENFORCE_CACHE_COHERENCY. KVM then counts its VFIO file as
 * coherent (no WBINVD emulation), and iommufd asks the driver to enforce
 * coherency for it while the attach path (paging_domain_compatible, per unit)
 * still refuses.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel-capable-global-sc', profile, {
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'intel') continue;
        const units = [...m.instances.values()].filter((i) => i.driver === drv);
        patchOwn(drv, 'capable', (orig) => (dev, cap) => {
          if (cap === 'ENFORCE_CACHE_COHERENCY') return units.some((u) => u.config.enforceCacheCoherency); // THE FAULT
          return orig(dev, cap);
        });
      }
    },
  });
}
