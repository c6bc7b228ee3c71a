/**
 * R42-B4 — amd-hw-info-type-not-set (drivers/iommu/amd/iommufd.c
 * amd_iommufd_hw_info(), 7.3 only: 6.12 AMD has no hw_info op).
 *
 *     hwinfo = kzalloc_obj(*hwinfo);
 *     if (!hwinfo)
 *             return ERR_PTR(-ENOMEM);
 *
 *     *length = sizeof(*hwinfo);
 *     *type = IOMMU_HW_INFO_TYPE_AMD;
 *
 * THE FAULT is the forgotten `*type = IOMMU_HW_INFO_TYPE_AMD;` line: the
 * driver answers with whatever type the caller asked for. A caller that
 * named IOMMU_HW_INFO_TYPE_AMD (IOMMU_HW_INFO_FLAG_INPUT_TYPE) still gets the
 * AMD struct; one asking for IOMMU_HW_INFO_TYPE_DEFAULT (no flag: every
 * pre-7.x VMM) leaves out_data_type at DEFAULT == NONE, which
 * iommufd_get_hw_info refuses after the call:
 *
 *     if (WARN_ON_ONCE(cmd->out_data_type == IOMMU_HW_INFO_TYPE_NONE)) {
 *             rc = -EOPNOTSUPP;
 *             goto out_free;
 *     }
 *
 * so IOMMU_GET_HW_INFO on an amd0 device fails with EOPNOTSUPP unless the type
 * is given explicitly.
 *
 * Applied as: the 7.3 AMD driver's hwInfo keeps the in-type; where that is
 * NONE/DEFAULT the core's WARN_ON check (which the reference never reaches)
 * answers -EOPNOTSUPP.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HW_INFO_TYPE_NONE } from '../../../spec/uapi/constants.ts';
import { EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-hw-info-type-not-set', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'amd' || !drv.hwInfo) continue;
        patchOwn(drv, 'hwInfo', (orig) => (dev: SimDevice, inType: number) => {
          const r = orig!(dev, inType);
          if (!('data' in r)) return r;
          // THE FAULT: *type not set: out_data_type stays the caller's in_data_type.
          if (inType === IOMMU_HW_INFO_TYPE_NONE) return { errno: -EOPNOTSUPP } /* the core's WARN_ON */;
          return { type: inType, data: r.data };
        });
      }
    },
  });
}
