/**
 * hw-info-data-len-from-copy-len (iommufd_get_hw_info,
 * drivers/iommu/iommufd/device.c; reached by IOMMU_GET_HW_INFO with a
 * data_len smaller than the driver's hw_info struct, e.g. the
 * "data_len = 0: how big is it?" probe; 6.12 and 7.3).
 *
 * The kernel's code (7.3; 6.12 is the same bar the comment's wording):
 *
 *     copy_len = min(cmd->data_len, data_len);
 *     if (copy_to_user(user_ptr, data, copy_len)) {
 *             rc = -EFAULT;
 *             goto out_free;
 *     }
 *     ...
 *     /*
 *      * We return the length the kernel supports so userspace may know what
 *      * the kernel capability is. It could be larger than the input buffer.
 *      *\/
 *     cmd->data_len = data_len;
 *
 * The fault: the length written back is the number of bytes copied,
 *
 *     cmd->data_len = copy_len;
 *
 * an easy slip right after the copy (copy_len is the "how much did we
 * write" value a reader of the code expects to return, and it equals
 * data_len whenever the caller's buffer is big enough, which is what every
 * in-tree VMM passes).
 *
 * Observable: a caller whose buffer is smaller than the driver's struct
 * (data_len 0 to ask for the size, or an older userspace's shorter struct)
 * is told data_len = what it passed instead of the size the kernel has:
 * the size probe answers 0 and an old VMM can no longer tell the kernel has
 * more to report. With a large enough buffer the answer is unchanged.
 *
 * Applied as: IOMMU_GET_HW_INFO runs _hw_info.ts's iommufd_get_hw_info
 * with its data_len write-back the bytes copied.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { getHwInfoWith } from './_hw_info.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-data-len-from-copy-len', profile, {
    // THE FAULT: `cmd->data_len = copy_len;`, not the driver's length (iommufd_get_hw_info).
    handlers: { IOMMU_GET_HW_INFO: getHwInfoWith({ answersDriverLength: false }) },
  });
}
