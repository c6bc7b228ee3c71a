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
 * Applied as: IOMMU_GET_HW_INFO runs a copy of the reference's
 * iommufd_get_hw_info whose data_len write-back is copy_len.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_NONE,
} from '../../../spec/uapi/constants.ts';
import { iommufdGetDevice, iommufdUcmdRespond, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_get_hw_info with THE FAULT: data_len is written back as copy_len. */
function getHwInfo(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  const flags = cmd.num('flags');
  const supported = ictx.profile === '7.3' ? IOMMU_HW_INFO_FLAG_INPUT_TYPE : 0;
  if (flags & ~supported) return -EOPNOTSUPP;
  if (cmd.fieldBytes('__reserved').some((b) => b !== 0)) return -EOPNOTSUPP;
  if (ictx.profile === '7.3' && !(flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE)) cmd.set('out_data_type', IOMMU_HW_INFO_TYPE_DEFAULT);
  const r = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (r.errno || !r.value) return r.errno;
  const idev = r.value;
  const drv = idev.dev.iommu.driver;
  let data: Uint8Array = new Uint8Array(0);
  if (drv.hwInfo) {
    const info = drv.hwInfo(idev.dev, cmd.num('out_data_type'));
    if (!('data' in info)) return info.errno;
    data = info.data;
    cmd.set('out_data_type', info.type);
  } else {
    cmd.set('out_data_type', IOMMU_HW_INFO_TYPE_NONE);
  }
  const userLen = cmd.num('data_len');
  const uptr = cmd.big('data_uptr');
  const copyLen = Math.min(userLen, data.length);
  if (copyLen && !ictx.proc.copyToUser(uptr, data.subarray(0, copyLen))) return -EFAULT;
  if (copyLen < userLen && !ictx.proc.copyToUser(uptr + BigInt(copyLen), new Uint8Array(userLen - copyLen))) return -EFAULT;
  cmd.set('data_len', copyLen); // THE FAULT: the kernel writes back data_len (data.length)
  let caps = 0;
  if (idev.dev.machine.capable(idev.dev, 'DIRTY_TRACKING')) caps |= IOMMU_HW_CAP_DIRTY_TRACKING;
  if (ictx.profile === '7.3' && !idev.dev.machine.capable(idev.dev, 'PCI_ATS_SUPPORTED')) caps |= IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
  cmd.set('out_capabilities', caps);
  cmd.set('out_max_pasid_log2', idev.dev.caps.maxPasidLog2);
  return iommufdUcmdRespond(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-data-len-from-copy-len', profile, {
    handlers: { IOMMU_GET_HW_INFO: getHwInfo },
  });
}
