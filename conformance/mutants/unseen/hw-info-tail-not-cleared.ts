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
 * Applied as: IOMMU_GET_HW_INFO is the reference's iommufd_get_hw_info
 * without the trailing clear.
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
  // THE FAULT: no clear_user(user_ptr + copy_len, cmd->data_len - copy_len).
  cmd.set('data_len', data.length);
  let caps = 0;
  if (idev.dev.machine.capable(idev.dev, 'DIRTY_TRACKING')) caps |= IOMMU_HW_CAP_DIRTY_TRACKING;
  if (ictx.profile === '7.3' && !idev.dev.machine.capable(idev.dev, 'PCI_ATS_SUPPORTED')) caps |= IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
  cmd.set('out_capabilities', caps);
  cmd.set('out_max_pasid_log2', idev.dev.caps.maxPasidLog2);
  return iommufdUcmdRespond(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-tail-not-cleared', profile, {
    handlers: { IOMMU_GET_HW_INFO: (ucmd) => getHwInfo(ucmd) },
  });
}
