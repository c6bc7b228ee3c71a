/**
 * mock-capable-dirty-ignores-no-dirty (drivers/iommu/iommufd/selftest.c
 * mock_domain_capable, as iommufd_get_hw_info in device.c asks it; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     static bool mock_domain_capable(struct device *dev, enum iommu_cap cap)
 *     {
 *             struct mock_dev *mdev = to_mock_dev(dev);
 *
 *             switch (cap) {
 *             case IOMMU_CAP_CACHE_COHERENCY:
 *                     return true;
 *             case IOMMU_CAP_DIRTY_TRACKING:
 *                     return !(mdev->flags & MOCK_FLAGS_DEVICE_NO_DIRTY);
 *             default:
 *                     break;
 *             }
 *             return false;
 *     }
 *
 * and iommufd_get_hw_info:
 *
 *     if (device_iommu_capable(idev->dev, IOMMU_CAP_DIRTY_TRACKING))
 *             cmd->out_capabilities |= IOMMU_HW_CAP_DIRTY_TRACKING;
 *
 * THE FAULT: the DIRTY_TRACKING case returns true unconditionally (the
 * MOCK_FLAGS_DEVICE_NO_DIRTY test is lost, as when the per-device flags were
 * moved from the domain to struct mock_dev).
 *
 * Observable: IOMMU_GET_HW_INFO on a mock device created with
 * IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS + MOCK_FLAGS_DEVICE_NO_DIRTY reports
 * IOMMU_HW_CAP_DIRTY_TRACKING, while IOMMU_HWPT_ALLOC with
 * IOMMU_HWPT_ALLOC_DIRTY_TRACKING for that device still fails EOPNOTSUPP (the
 * driver's own alloc check is intact): the capability userspace reads lies.
 *
 * Applied as: the mock driver's `capable` is wrapped; every other capability
 * and driver is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-capable-dirty-ignores-no-dirty', profile, {
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'mock') continue;
        patchOwn(drv, 'capable', (capable) => (dev, cap) => (cap === 'DIRTY_TRACKING' ? true : capable(dev, cap)));
      }
    },
  });
}
