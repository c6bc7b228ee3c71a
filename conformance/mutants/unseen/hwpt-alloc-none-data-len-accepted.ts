/**
 * Round 37 fault (HWPT allocation, abi-hygiene / errno):
 * drivers/iommu/iommufd/hw_pagetable.c iommufd_hwpt_alloc keeps only half of
 * its data_type / data_len consistency test.
 *
 * Correct:
 *     if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
 *         (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
 *             return -EINVAL;
 *
 * Fault: the first half is gone (only "a typed request needs data" is
 * tested), so data_type = IOMMU_HWPT_DATA_NONE with a non-zero data_len goes
 * on: the device and pt lookups answer first (ENOENT for a bad dev_id, EINVAL
 * for a bad pt_id), and a struct iommu_user_data of type NONE reaches the
 * driver's domain_alloc_paging_flags / nested allocation, which refuses it
 * with its own errno (VT-d, AMD, SMMUv3: EOPNOTSUPP for any user data; the
 * selftest mock: its iommu_copy_struct_from_user type check, EINVAL) instead
 * of the command's EINVAL. Both profiles.
 */
import { IOMMU_HWPT_DATA_NONE } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { hwptAllocWith } from './_hwpt_alloc.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-none-data-len-accepted', profile, {
    // THE FAULT: only the `data_type != NONE && !data_len` half of the data test is left.
    handlers: { IOMMU_HWPT_ALLOC: hwptAllocWith({ dataRefused: (type, len) => type !== IOMMU_HWPT_DATA_NONE && len === 0 }) },
  });
}
