/**
 * vtdss-attach-sagaw-from-unit-levels — drivers/iommu/intel/iommu.c
 * paging_domain_compatible_second_stage() (7.3 only; 6.12 skips levels with
 * iommu_skip_agaw instead).
 *
 * A second-stage table can be attached to a unit only if the unit walks a
 * table of that depth:
 *
 *     pt_iommu_vtdss_hw_info(&dmar_domain->sspt, &pt_info);
 *     ...
 *     if (!(cap_sagaw(iommu->cap) & BIT(pt_info.aw)))
 *             return -EINVAL;
 *
 * THE FAULT: the AGAW tested is the unit's own (the one intel_iommu computed
 * for its domains at probe, iommu->agaw) instead of the domain's pt_info.aw:
 *
 *     if (!(cap_sagaw(iommu->cap) & BIT(iommu->agaw)))
 *
 * which always holds, so a 3-level table made for a 39-bit unit (vtd1) is
 * accepted by a unit that only walks 4 levels (vtd0/vtd2).
 *
 * What a user sees: attaching a vtd0 device to an HWPT allocated for a vtd1
 * device succeeds instead of EINVAL; the vtd0 unit then walks the 3-level
 * table as a 4-level one (its root's entries are taken as level-4 pointers),
 * so the device's DMA goes wherever those entries happen to point.
 *
 * Applied as (7.3 only): the intel driver's attach tests SAGAW with the
 * unit's own depth.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtdss-attach-sagaw-from-unit-levels', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      for (const inst of m.instances.values()) {
        const drv = inst.driver;
        if (drv.name !== 'intel' || Object.prototype.hasOwnProperty.call(drv, '__rt43b')) continue;
        Object.defineProperty(drv, '__rt43b', { value: true });
        patchOwn(drv, 'attachDev', (attachDev) => (domain, dev) => {
          const rc = attachDev(domain, dev);
          if (rc === 0 || domain.config?.format !== 'vtd-ss') return rc;
          // The reference's other checks (coherency, dirty, aperture) still apply.
          if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return rc;
          if (domain.dirtyOps && !dev.caps.dirtyTracking) return rc;
          if (domain.apertureEnd > dev.iommu.config.apertureLast) return rc;
          // THE FAULT: BIT(iommu->agaw) — the unit's own depth, always in its SAGAW.
          return 0;
        });
      }
    },
  });
}
