/**
 * mock-hw-info-kmalloc-flags (drivers/iommu/iommufd/selftest.c,
 * mock_domain_hw_info, the mock driver's iommu_ops.hw_info that
 * IOMMU_GET_HW_INFO calls for a mock device).
 *
 * The kernel zeroes the struct it hands to userspace and fills test_reg only:
 *
 *     info = kzalloc_obj(*info);
 *     if (!info)
 *             return ERR_PTR(-ENOMEM);
 *
 *     info->test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL;
 *     *length = sizeof(*info);
 *     *type = IOMMU_HW_INFO_TYPE_SELFTEST;
 *
 * THE FAULT (one allocation call): `info = kmalloc(sizeof(*info), GFP_KERNEL);`
 * -- struct iommu_test_hw_info's first member, `__u32 flags`, is never
 * written, and iommufd_get_hw_info copies the whole struct to user space.
 *
 * What a user sees: IOMMU_GET_HW_INFO on a mock device returns stale slab
 * bytes in iommu_test_hw_info.flags (a kernel heap info leak; the uAPI says
 * flags is 0). Modelled with the slab free poison, 0x6b6b6b6b, as a
 * use-after-free-poisoned slot would give.
 *
 * Applied as: the mock driver's hwInfo answer with bytes 0..3 (flags) set to
 * the poison. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-hw-info-kmalloc-flags', profile, {
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'mock' || !drv.hwInfo) continue;
        patchOwn(drv, 'hwInfo', (hwInfo) => (dev, inType) => {
          const r = hwInfo!(dev, inType);
          if (!('data' in r)) return r;
          const data = new Uint8Array(r.data);
          data.set([0x6b, 0x6b, 0x6b, 0x6b], 0); // THE FAULT: flags never zeroed
          return { type: r.type, data };
        });
      }
    },
  });
}
