/**
 * mock-attach-no-dirty-check-dropped (drivers/iommu/iommufd/selftest.c
 * mock_domain_nop_attach, the mock driver's attach_dev; reached when a mock
 * device created with MOCK_FLAGS_DEVICE_NO_DIRTY is attached to a paging
 * domain allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING by another device;
 * 6.12 and 7.3).
 *
 * The kernel's code (6.12; 7.3 begins the same way, then does its viommu
 * and iopf work):
 *
 *     static int mock_domain_nop_attach(struct iommu_domain *domain,
 *                                       struct device *dev)
 *     {
 *             struct mock_dev *mdev = container_of(dev, struct mock_dev, dev);
 *
 *             if (domain->dirty_ops && (mdev->flags & MOCK_FLAGS_DEVICE_NO_DIRTY))
 *                     return -EINVAL;
 *
 *             return 0;
 *     }
 *
 * A device whose IOMMU cannot track dirty pages must not join a domain that
 * userspace relies on for dirty tracking: attach_dev refuses it (the same
 * rule the real drivers apply: intel's device_set_dirty_tracking capability
 * test, arm-smmu-v3's arm_smmu_dbm_capable).
 *
 * THE FAULT: the test is removed as "redundant" because the allocation path
 * already refuses IOMMU_HWPT_ALLOC_DIRTY_TRACKING for a NO_DIRTY device
 * (mock_domain_alloc_paging / mock_domain_alloc_user: `if (has_dirty_flag &&
 * no_dirty_ops) return ERR_PTR(-EOPNOTSUPP)`); that only covers the device
 * that allocates the domain, not a second device attached to it later:
 *
 *     static int mock_domain_nop_attach(struct iommu_domain *domain,
 *                                       struct device *dev)
 *     {
 *             return 0;
 *     }
 *
 * Observable: attaching (IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS with id = the HWPT,
 * IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, VFIO_DEVICE_ATTACH_IOMMUFD_PT) a
 * NO_DIRTY mock device to a dirty-tracking HWPT succeeds where the kernel
 * answers EINVAL; the device then DMAs through a domain whose dirty bitmap
 * cannot account for it, and the HWPT gains a user (and the IOAS reserved
 * ranges of the device's group) the kernel would not give it.
 *
 * Applied as: the machine's mock driver attach_dev accepts a dirty-tracking
 * domain for a NO_DIRTY device; every other attach is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { MOCK_FLAGS_DEVICE_NO_DIRTY } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-attach-no-dirty-check-dropped', profile, {
    machine: (m) => {
      const drv = m.instances.get('mock')?.driver;
      if (!drv) return;
      patchOwn(drv, 'attachDev', (attachDev) => (domain, dev) => {
        // THE FAULT: no `if (domain->dirty_ops && (mdev->flags & MOCK_FLAGS_DEVICE_NO_DIRTY)) return -EINVAL;`
        if (domain.dirtyOps && dev.mockFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) return 0;
        return attachDev(domain, dev);
      });
    },
  });
}
