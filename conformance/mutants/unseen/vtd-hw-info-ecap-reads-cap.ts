/**
 * vtd-hw-info-ecap-reads-cap (drivers/iommu/intel/iommu.c intel_iommu_hw_info();
 * IOMMU_GET_HW_INFO on a device behind a VT-d unit; 6.12 and 7.3).
 *
 * The kernel fills struct iommu_hw_info_vtd from the unit's two capability
 * registers:
 *
 *     vtd->flags = IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17;
 *     vtd->cap_reg = iommu->cap;
 *     vtd->ecap_reg = iommu->ecap;
 *     *length = sizeof(*vtd);
 *     *type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
 *
 * THE FAULT (a copy-and-paste slip): `vtd->ecap_reg = iommu->cap;`.
 *
 * What a user sees: IOMMU_GET_HW_INFO answers 0 with out_data_type
 * IOMMU_HW_INFO_TYPE_INTEL_VTD and a data buffer whose ecap_reg (bytes
 * 16..23) repeats cap_reg: a VMM building a virtual VT-d from it advertises
 * the wrong extended capabilities (nested translation, snoop control,
 * pasid, SLADS...) to its guest.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-hw-info-ecap-reads-cap', profile, {
    machine: (m) =>
      patchDriverHwInfo(m, 'intel', (orig) => (dev, inType) => {
        const r = orig(dev, inType);
        if ('errno' in r) return r;
        // THE FAULT: ecap_reg (offset 16) takes the value of cap_reg (offset 8).
        const data = new Uint8Array(r.data);
        data.copyWithin(16, 8, 16);
        return { ...r, data };
      }),
  });
}
