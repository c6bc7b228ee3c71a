/**
 * vtd-hw-info-latched-first-unit (drivers/iommu/intel/iommu.c
 * intel_iommu_hw_info, the ops->hw_info behind IOMMU_GET_HW_INFO for a device
 * behind a VT-d unit, both profiles).
 *
 * The answer describes the DMAR unit the asking device sits behind:
 *
 *     static void *intel_iommu_hw_info(struct device *dev, u32 *length, u32 *type)
 *     {
 *             struct device_domain_info *info = dev_iommu_priv_get(dev);
 *             struct intel_iommu *iommu = info->iommu;
 *             struct iommu_hw_info_vtd *vtd;
 *
 *             vtd = kzalloc(sizeof(*vtd), GFP_KERNEL);
 *             if (!vtd)
 *                     return ERR_PTR(-ENOMEM);
 *
 *             vtd->flags = IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17;
 *             vtd->cap_reg = iommu->cap;
 *             vtd->ecap_reg = iommu->ecap;
 *             *length = sizeof(*vtd);
 *             *type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
 *             return vtd;
 *     }
 *
 * The fault is a stale cached value: the driver builds the struct once, the
 * first time any device asks, and afterwards hands out kmemdup() copies of
 * that first answer (`if (!vtd_info_cache) vtd_info_cache = ...;
 * return kmemdup(vtd_info_cache, ...)`), on the assumption that all DMAR units
 * of a platform report the same capability registers. They do not: an
 * integrated-graphics DRHD routinely lacks snoop control, nesting or second
 * stage A/D that the other units have, and the register values differ in
 * SAGAW / MGAW / SLLPS. The argument checks (7.3's in_data_type) and the
 * allocation stay per call.
 *
 * Observable: in a session where a device behind one VT-d unit asked first, a
 * device behind another one (vtd1: 3-level, 39-bit, no SC, no nesting, no
 * SSADS; or a vtd0/vtd2 device whose own capabilities differ: no snoop
 * control, no dirty tracking) gets the first device's cap_reg/ecap_reg in the
 * IOMMU_GET_HW_INFO data. A VMM building a vIOMMU from it advertises a wider
 * address width, superpages, snoop control and nesting the device's unit
 * cannot provide. The per-device answers that do not come from the driver's
 * struct (out_capabilities, out_max_pasid_log2) stay right. Until the first
 * successful VT-d hw_info of the session every answer is the kernel's.
 *
 * Applied as: the machine's VT-d driver's hwInfo is an own-property wrapper
 * that latches the first successful answer's data and returns a copy of it
 * afterwards.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-hw-info-latched-first-unit', profile, {
    machine: (m) =>
      patchDriverHwInfo(m, 'intel', (hwInfo) => {
        /** The struct built by the first successful call (static in the driver). */
        let cached: { type: number; data: Uint8Array } | undefined;
        return (dev, inType) => {
          const r = hwInfo(dev, inType);
          if (!('data' in r)) return r; // type check and kzalloc failure stay per call
          if (cached === undefined) {
            cached = { type: r.type, data: r.data.slice() };
            return r;
          }
          return { type: cached.type, data: cached.data.slice() }; // THE FAULT: the first unit's registers
        };
      }),
  });
}
