/**
 * vtd-compat-dirty-tracking-state — drivers/iommu/intel/iommu.c
 * paging_domain_compatible_second_stage() (7.3; 6.12:
 * prepare_domain_attach_device(), the same test), called by
 * intel_iommu_attach_device() for every attach and replace of a VT-d paging
 * domain.
 *
 * A VT-d domain allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING has dirty_ops
 * (intel_dirty_ops): the VMM will later turn second-stage A/D tracking on
 * (IOMMU_HWPT_SET_DIRTY_TRACKING → domain_set_dirty_tracking → SSADE in the
 * PASID entry of every device on the domain) and read the D bits back
 * (IOMMU_HWPT_GET_DIRTY_BITMAP) to find the pages DMA wrote during live
 * migration. A device whose IOMMU cannot set D bits (no ECAP.SSADS) must
 * therefore never join such a domain, whether tracking is on yet or not:
 *
 *     if (dmar_domain->domain.dirty_ops && !ssads_supported(iommu))
 *             return -EINVAL;
 *
 * (6.12: `if (domain->dirty_ops && !ssads_supported(iommu)) return -EINVAL;`).
 *
 * THE FAULT: the test reads the domain's tracking *state* instead of its
 * capability — the bit next to it in struct dmar_domain, `u8
 * dirty_tracking:1; /* Dirty tracking is enabled *\/`:
 *
 *     if (dmar_domain->dirty_tracking && !ssads_supported(iommu))
 *             return -EINVAL;
 *
 * While tracking is off (always, until the VMM starts a migration) any
 * device is accepted. The compatibility answer now depends on when the
 * device comes, not on what the domain is.
 *
 * Consequence, through two objects: a HWPT allocated with
 * IOMMU_HWPT_ALLOC_DIRTY_TRACKING for a device that can track dirty pages
 * (IOMMU_GET_HW_INFO reports IOMMU_HW_CAP_DIRTY_TRACKING for it) is accepted
 * by VFIO_DEVICE_ATTACH_IOMMUFD_PT (or a replace) of a second device whose
 * IOMMU cannot, where the kernel answers EINVAL — and the VMM, which relies
 * on that EINVAL to know it must allocate a separate HWPT (and fall back to
 * not migrating that device live), goes on. Once tracking is enabled, the
 * second device's DMA writes set no D bit: IOMMU_HWPT_GET_DIRTY_BITMAP never
 * reports the pages it wrote, and a live migration silently loses guest
 * memory. (The reference serves neither SET_DIRTY_TRACKING nor
 * GET_DIRTY_BITMAP: what user space sees here is the attach's answer, and
 * which HWPT the device ends up on.)
 *
 * Applied as: the intel driver's attach_dev refuses a device without dirty
 * tracking only while the domain's hardware dirty tracking is enabled,
 * instead of whenever the domain was allocated dirty-capable.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-compat-dirty-tracking-state', profile, {
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'intel') continue;
        // prepare_domain_attach_device / paging_domain_compatible, the reference's but for the dirty test.
        patchOwn(drv, 'attachDev', () => (domain, dev) => {
          if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return -EINVAL;
          // THE FAULT: dmar_domain->dirty_tracking (enabled now) instead of domain.dirty_ops (capable).
          if (domain.hw?.dirtyTracking && !dev.caps.dirtyTracking) return -EINVAL;
          if (domain.apertureEnd > dev.iommu.config.apertureLast) return -EINVAL;
          const cfg = domain.config;
          if (profile === '7.3' && cfg?.format === 'vtd-ss' && !(Number((dev.iommu.config.regs[0] ?? 0n) >> 8n) & 0x1f & (1 << ((cfg.levels ?? 4) - 2)))) return -EINVAL;
          return 0;
        });
      }
    },
  });
}
