/**
 * hw-info-reserved-last-byte-unchecked (drivers/iommu/iommufd/device.c,
 * iommufd_get_hw_info).
 *
 * struct iommu_hw_info ends its input part with `__u8 out_max_pasid_log2;
 * __u8 __reserved[3];` (the old `__u32 __reserved` split when the PASID width
 * was added), and IOMMU_GET_HW_INFO refuses any non-zero reserved byte before
 * it looks the device up. 6.12:
 *
 *     if (cmd->flags || cmd->__reserved[0] || cmd->__reserved[1] ||
 *         cmd->__reserved[2])
 *             return -EOPNOTSUPP;
 *
 * 7.3 (after the INPUT_TYPE flag test):
 *
 *     if (cmd->__reserved[0] || cmd->__reserved[1] || cmd->__reserved[2])
 *             return -EOPNOTSUPP;
 *
 * The fault tests __reserved[0] and __reserved[1] only: the element-by-element
 * test of the three-byte array written one element short, the kind of slip a
 * u32 → u8[3] conversion invites (and that a reviewer reads past, as the line
 * break falls right where the third term should be).
 *
 * Observable: IOMMU_GET_HW_INFO on a bound device with __reserved[2] != 0 (and
 * the other two bytes zero) succeeds and reports the device's data, type,
 * capabilities and PASID width instead of failing EOPNOTSUPP; the byte the
 * caller set is written back unchanged with the rest of the struct. Such a
 * byte is exactly what a later kernel may give a meaning to (as
 * out_max_pasid_log2 took the first byte of the old u32), so a kernel that
 * accepts it today lets userspace depend on a bit the ABI reserved.
 *
 * Applied as: a copy of the reference's iommufd_get_hw_info with the reserved
 * test on the first two bytes; everything after it is the reference's.
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

/** iommufd_get_hw_info with the faulty reserved-byte test. */
function getHwInfo(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  const flags = cmd.num('flags');
  const supported = ictx.profile === '7.3' ? IOMMU_HW_INFO_FLAG_INPUT_TYPE : 0;
  if (flags & ~supported) return -EOPNOTSUPP;
  const reserved = cmd.fieldBytes('__reserved');
  // THE FAULT: `|| cmd->__reserved[2]` is missing.
  if (reserved[0] || reserved[1]) return -EOPNOTSUPP;
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
  cmd.set('data_len', data.length);
  let caps = 0;
  if (idev.dev.machine.capable(idev.dev, 'DIRTY_TRACKING')) caps |= IOMMU_HW_CAP_DIRTY_TRACKING;
  if (ictx.profile === '7.3' && !idev.dev.machine.capable(idev.dev, 'PCI_ATS_SUPPORTED')) caps |= IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
  cmd.set('out_capabilities', caps);
  cmd.set('out_max_pasid_log2', idev.dev.caps.maxPasidLog2);
  return iommufdUcmdRespond(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-reserved-last-byte-unchecked', profile, {
    handlers: { IOMMU_GET_HW_INFO: (ucmd) => getHwInfo(ucmd) },
  });
}
