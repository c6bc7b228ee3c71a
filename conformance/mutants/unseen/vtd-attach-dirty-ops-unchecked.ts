/**
 * R32-B4 — vtd-attach-dirty-ops-unchecked (drivers/iommu/intel/iommu.c:
 * 7.3 paging_domain_compatible_second_stage(), 6.12
 * prepare_domain_attach_device(); reached from intel_iommu_attach_device()
 * for every attach or replace of a VT-d paging domain).
 *
 * A domain allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING has dirty_ops
 * and, once tracking is enabled, every device on it must set A/D bits in the
 * second-stage table (SSADS) — a unit without it would write through without
 * marking pages dirty, and a live migration would lose those writes. So the
 * compatibility check refuses such a device:
 *
 *     7.3:  if (dmar_domain->domain.dirty_ops && !ssads_supported(iommu))
 *                   return -EINVAL;
 *     6.12: if (domain->dirty_ops && !ssads_supported(iommu))
 *                   return -EINVAL;
 *
 * iommufd checks IOMMU_CAP_DIRTY_TRACKING only for the device that
 * allocates the HWPT (iommufd_hwpt_paging_alloc); every later attach of
 * another device to that HWPT relies on this driver check. THE FAULT drops
 * it (a refactor that moved the dirty test next to the allocation, where
 * ssads_supported() is already tested, and deleted it here as a duplicate).
 *
 * Observable: a dirty-tracking HWPT made for a VT-d device that tracks
 * dirty pages accepts a VT-d device that cannot (here: a device created with
 * dirtyTracking false): VFIO_DEVICE_ATTACH_IOMMUFD_PT / IOMMU_HWPT replace
 * to that HWPT succeed where the kernel answers EINVAL, and an automatic
 * domain search (attach to the IOAS) reuses such a HWPT for the device
 * instead of skipping it. Nothing else changes.
 *
 * Applied as: the machine's VT-d driver attaches through a copy of the
 * reference's attachDev without the dirty_ops test (both profiles).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-attach-dirty-ops-unchecked', profile, {
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver).filter((d) => d.name === 'intel'));
      for (const drv of drivers) {
        patchOwn(drv, 'attachDev', () => (domain, dev) => {
          if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return -EINVAL;
          // THE FAULT: no `if (domain->dirty_ops && !ssads_supported(iommu)) return -EINVAL;`
          if (domain.apertureEnd > dev.iommu.config.apertureLast) return -EINVAL;
          const cfg = domain.config;
          if (profile === '7.3' && cfg?.format === 'vtd-ss' && !(Number((dev.iommu.config.regs[0] ?? 0n) >> 8n) & 0x1f & (1 << ((cfg.levels ?? 4) - 2)))) return -EINVAL;
          return 0;
        });
      }
    },
  });
}
