/**
 * C9 — hw-info-tail-not-cleared (drivers/iommu/iommufd/device.c
 * iommufd_get_hw_info).
 *
 * The driver's hw_info struct is copied up to the user's data_len, and a
 * user buffer larger than what the kernel has is zero-filled past it:
 *     copy_len = min(cmd->data_len, data_len);
 *     if (copy_to_user(user_ptr, data, copy_len)) { rc = -EFAULT; goto out_free; }
 *     /*
 *      * Zero the trailing bytes if the user buffer is bigger than the
 *      * data size kernel actually has.
 *      *\/
 *     if (copy_len < cmd->data_len) {
 *             if (clear_user(user_ptr + copy_len, cmd->data_len - copy_len)) {
 * The fault drops the clear_user() block (it looked redundant next to the
 * data_len the kernel writes back). A newer userspace whose struct
 * iommu_hw_info_<vendor> is larger than the running kernel's reads whatever
 * its buffer held in the fields the kernel does not know (capability words,
 * register copies) instead of the zeros that mean "not supported" under the
 * extensible-struct rules, and then acts on capabilities the IOMMU does not
 * have; a buffer past the end of the user's mapping no longer faults
 * (EFAULT) either.
 *
 * Applied as: IOMMU_GET_HW_INFO is _hw_info.ts's iommufd_get_hw_info
 * without the trailing clear.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { getHwInfoWith } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-tail-not-cleared', profile, {
    handlers: { IOMMU_GET_HW_INFO: getHwInfoWith({ clearTail: false }) },
  });
}
