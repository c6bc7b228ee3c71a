/**
 * vtd-hw-info-errata-nesting-only (drivers/iommu/intel/iommu.c:
 * intel_iommu_hw_info() — IOMMU_GET_HW_INFO on a device behind a VT-d unit
 * without nested translation (ecap.NEST clear; here vtd1)).
 *
 * The kernel (6.12 and 7.3):
 *
 *     vtd->flags = IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17;
 *     vtd->cap_reg = iommu->cap;
 *     vtd->ecap_reg = iommu->ecap;
 *
 * The erratum flag is set unconditionally: userspace (a VMM building a
 * vIOMMU) must not rely on read-only second-stage mappings on any unit.
 * THE FAULT reports it only for units that can nest (the erratum is about
 * nesting parents, so someone "optimised" the flag to nesting-capable units:
 * `if (ecap_nest(iommu->ecap)) vtd->flags = ...`).
 *
 * Observable: IOMMU_GET_HW_INFO for a vtd1 device returns
 * struct iommu_hw_info_vtd.flags = 0 where the kernel returns
 * IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 (1). Devices on vtd0/vtd2 unchanged.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-hw-info-errata-nesting-only', profile, {
    machine: (m) =>
      patchDriverHwInfo(m, 'intel', (orig) => (dev, inType) => {
        const r = orig(dev, inType);
        if ('errno' in r || dev.iommu.config.nesting) return r;
        // THE FAULT: flags (the first u32 of struct iommu_hw_info_vtd) only for nesting-capable units.
        const data = new Uint8Array(r.data);
        data.fill(0, 0, 4);
        return { ...r, data };
      }),
  });
}
