/**
 * amd-hw-info-length-sizeof-pointer — drivers/iommu/amd/iommufd.c
 * amd_iommufd_hw_info() (7.3 only: 6.12's AMD driver has no hw_info op).
 *
 * The kernel reports the length of the structure it allocated:
 *
 *     hwinfo = kzalloc(sizeof(*hwinfo), GFP_KERNEL);
 *     ...
 *     *length = sizeof(*hwinfo);
 *     *type = IOMMU_HW_INFO_TYPE_AMD;
 *     hwinfo->efr = amd_iommu_efr;
 *     hwinfo->efr2 = amd_iommu_efr2;
 *
 * THE FAULT: the dereference is dropped, `*length = sizeof(hwinfo);` — the
 * size of the pointer, 8 bytes, not the 16 of struct iommu_hw_info_amd.
 *
 * What a user sees: IOMMU_GET_HW_INFO on an amd0 device answers
 * data_len = 8 instead of 16 and copies only efr; iommufd zero-fills the rest
 * of the user's buffer, so efr2 reads as 0 and a VMM sizing its vIOMMU from
 * data_len sees a truncated struct.
 *
 * Applied as (7.3 only): the amd driver's hw_info answer is cut to 8 bytes.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwInfo } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-hw-info-length-sizeof-pointer', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      for (const inst of m.instances.values()) {
        const drv = inst.driver;
        if (drv.name !== 'amd' || !drv.hwInfo || Object.prototype.hasOwnProperty.call(drv, '__rt43b')) continue;
        Object.defineProperty(drv, '__rt43b', { value: true });
        patchOwn(drv, 'hwInfo', (hwInfo) => (dev, inType) => {
          const r = (hwInfo as NonNullable<typeof hwInfo>)(dev, inType);
          if (!('data' in r)) return r;
          // THE FAULT: *length = sizeof(hwinfo) — a pointer's size.
          return { type: r.type, data: r.data.slice(0, 8) } satisfies HwInfo;
        });
      }
    },
  });
}
