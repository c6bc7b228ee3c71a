/**
 * amd-hw-info-efr2-from-efr — drivers/iommu/amd/iommufd.c
 * amd_iommufd_hw_info() (7.3; 6.12's AMD driver has no hw_info), reached by
 * IOMMU_GET_HW_INFO for a device behind an AMD IOMMU (in_data_type DEFAULT
 * or IOMMU_HW_INFO_TYPE_AMD).
 *
 * The kernel's code:
 *
 *     *length = sizeof(*hwinfo);
 *     *type = IOMMU_HW_INFO_TYPE_AMD;
 *
 *     hwinfo->efr = amd_iommu_efr;
 *     hwinfo->efr2 = amd_iommu_efr2;
 *
 * THE FAULT: a copy-and-paste slip fills both fields from the first
 * extended feature register:
 *
 *     hwinfo->efr = amd_iommu_efr;
 *     hwinfo->efr2 = amd_iommu_efr;
 *
 * Observable: struct iommu_hw_info_amd.efr2 as copied to data_uptr holds
 * EFR's value instead of EFR2's (the unit's EFR2 is 0, its EFR not), so a
 * VMM building a guest IVRS advertises EFR2 features the hardware lacks.
 * Type, length and every errno are unchanged.
 *
 * Applied as (7.3 only): the amd driver's hw_info answer has efr2 = efr.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { decodeStruct, encodeStruct } from '../../../spec/abi/codec.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-hw-info-efr2-from-efr', profile, {
    machine(m, env) {
      if (env.profile !== '7.3') return;
      patchDriverHwInfo(m, 'amd', (orig) => (dev, inType) => {
        const r = orig(dev, inType);
        if (!('data' in r)) return r;
        const v = decodeStruct(env.profile, 'iommu_hw_info_amd', r.data);
        return { type: r.type, data: encodeStruct(env.profile, 'iommu_hw_info_amd', { ...v, efr2: v['efr'] ?? 0n }) };
      });
    },
  });
}
