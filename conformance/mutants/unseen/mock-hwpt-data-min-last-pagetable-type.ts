/**
 * mock-hwpt-data-min-last-pagetable-type (drivers/iommu/iommufd/selftest.c
 * mock_domain_alloc_paging_flags, 7.3).
 *
 * The selftest driver's paging domain takes optional driver data, struct
 * iommu_hwpt_selftest { __u32 iotlb; __u32 pagetable_type; }, read with
 *
 *     if (user_data) {
 *             rc = iommu_copy_struct_from_user(
 *                     &user_cfg, user_data, IOMMU_HWPT_DATA_SELFTEST, iotlb);
 *             if (rc)
 *                     return ERR_PTR(rc);
 *     }
 *
 * The last argument names the last member of the struct's first version:
 * __iommu_copy_struct_from_user refuses (-EINVAL) a user length below
 * offsetofend(struct, iotlb) and zero-fills the rest, so userspace that
 * predates pagetable_type (data_len 4) still gets the default page table.
 * The fault is the classic slip when a struct is extended: the min_last
 * argument is moved to the new member (`..., IOMMU_HWPT_DATA_SELFTEST,
 * pagetable_type)`), so a 4..7-byte selftest data that the kernel accepts is
 * refused with EINVAL. Only IOMMU_HWPT_ALLOC of a paging HWPT for a mock
 * device with IOMMU_HWPT_DATA_SELFTEST data shorter than the whole struct
 * sees it; the nested path (mock_domain_alloc_nested) has its own copy and is
 * untouched.
 *
 * Applied as: the mock driver's domain_alloc_paging_flags answers -EINVAL for
 * such data after its flag and data-type checks, before it allocates.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_SELFTEST,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
} from '../../../spec/uapi/constants.ts';
import { offsetofend } from '../../../spec/uapi/layout.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { IommuDriver } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-hwpt-data-min-last-pagetable-type', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const drv = m.instances.get('mock')?.driver as IommuDriver | undefined;
      if (!drv) return;
      const PAGING_FLAGS = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID;
      // THE FAULT: iommu_copy_struct_from_user(&user_cfg, user_data, IOMMU_HWPT_DATA_SELFTEST, pagetable_type)
      const minLen = offsetofend(profile, 'iommu_hwpt_selftest', 'pagetable_type');
      patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
        const hasDirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
        const noDirty = (dev.mockFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0;
        // The checks before the copy answer first (EOPNOTSUPP), and a length below iotlb's end is EINVAL either way.
        if (flags & ~PAGING_FLAGS || (hasDirty && noDirty)) return alloc(dev, flags, data);
        if (data && data.type === IOMMU_HWPT_DATA_SELFTEST && data.len < minLen) return { errno: -EINVAL };
        return alloc(dev, flags, data);
      });
    },
  });
}
