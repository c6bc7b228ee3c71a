/**
 * hwpt-alloc-typed-empty-data-accepted (drivers/iommu/iommufd/hw_pagetable.c,
 * iommufd_hwpt_alloc).
 *
 * IOMMU_HWPT_ALLOC refuses a data type without data, and data without a type,
 * before it looks anything up (6.12 and 7.3 alike):
 *
 *     if (cmd->__reserved)
 *             return -EOPNOTSUPP;
 *     if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
 *         (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
 *             return -EINVAL;
 *
 * The fault keeps only the first half,
 *
 *     if (cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len)
 *             return -EINVAL;
 *
 * a "simplification" that reads the second half as redundant because the
 * paging path already passes `user_data.len ? &user_data : NULL`. It is not:
 * a typed request with data_len 0 is no longer refused.
 *
 * Observable: IOMMU_HWPT_ALLOC with a non-NONE data_type (e.g.
 * IOMMU_HWPT_DATA_SELFTEST or a vendor nested type) and data_len 0 —
 *   - on an IOAS: succeeds and creates a plain paging HWPT (the driver is
 *     called with no user data, as if data_type were NONE), where the kernel
 *     answers EINVAL: the caller asked for a driver-configured domain and
 *     silently got a default one (and a new object, a new domain, pinned
 *     pages when the IOAS has mappings);
 *   - on a HWPT_PAGING (the nested path): EOPNOTSUPP from the nested
 *     checks instead of EINVAL;
 *   - with a bad dev_id / pt_id: ENOENT / EINVAL of the lookups instead.
 *
 * Applied as: IOMMU_HWPT_ALLOC is the shared copy of iommufd_hwpt_alloc
 * (_hwpt_alloc.ts) with half of its data check.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HWPT_DATA_NONE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { hwptAllocWith } from './_hwpt_alloc.ts';

// THE FAULT: `(data_type != IOMMU_HWPT_DATA_NONE && !data_len)` is no longer refused.
const hwptAlloc = hwptAllocWith({ dataRefused: (type, len) => type === IOMMU_HWPT_DATA_NONE && len !== 0 });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-typed-empty-data-accepted', profile, {
    handlers: { IOMMU_HWPT_ALLOC: (ucmd) => hwptAlloc(ucmd) },
  });
}
