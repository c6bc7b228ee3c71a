/**
 * vtd-hw-info-length-sizeof-pointer (drivers/iommu/intel/iommu.c
 * intel_iommu_hw_info, behind IOMMU_GET_HW_INFO; both profiles).
 *
 * The driver fills a struct iommu_hw_info_vtd { u32 flags; u32 __reserved;
 * u64 cap_reg; u64 ecap_reg; } (24 bytes) and tells iommufd how long it is:
 *     vtd->flags = IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17;
 *     vtd->cap_reg = iommu->cap;
 *     vtd->ecap_reg = iommu->ecap;
 *
 *     *length = sizeof(*vtd);
 *     *type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
 * THE FAULT: the classic sizeof slip,
 *     *length = sizeof(vtd);
 * the size of the pointer (8 bytes on x86-64).
 *
 * iommufd_get_hw_info copies min(data_len, length) bytes, zero-fills the rest
 * of the user's buffer and reports data_len = length. A VMM asking for the
 * VT-d registers gets out_data_type = INTEL_VTD with data_len 8: only the
 * flags word reaches it, cap_reg and ecap_reg read as zero (the tail is
 * zero-filled) — a guest vIOMMU built from them advertises no SAGAW, no
 * superpages, no snoop control; a VMM that checks data_len refuses the device.
 *
 * Applied as: the VT-d driver's hw_info reports only the first 8 bytes of the
 * structure it built.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

/** sizeof(struct iommu_hw_info_vtd *) on x86-64. */
const SIZEOF_POINTER = 8;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-hw-info-length-sizeof-pointer', profile, {
    machine: (m) =>
      patchDriverHwInfo(m, 'intel', (hwInfo) => (dev, inType) => {
        const r = hwInfo(dev, inType);
        if (!('data' in r)) return r;
        // THE FAULT: *length = sizeof(vtd) — the pointer's size, not the structure's.
        return { type: r.type, data: r.data.subarray(0, SIZEOF_POINTER) };
      }),
  });
}
