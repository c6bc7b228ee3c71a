/**
 * hw-info-max-pasid-not-cleared (drivers/iommu/iommufd/device.c
 * iommufd_get_hw_info, IOMMU_GET_HW_INFO; 6.12 and 7.3).
 *
 * struct iommu_hw_info is copied in from the caller and copied back whole by
 * iommufd_ucmd_respond, so an out member the kernel does not write returns
 * whatever the caller's memory held. The kernel writes the PASID width
 * unconditionally, zero first, and the log2 only for a device whose PASID
 * support is enabled:
 *
 *         cmd->out_max_pasid_log2 = 0;
 *         // (comment: all iommu drivers enable PASID in probe_device()
 *         //  when the IOMMU and the device support it)
 *         if (idev->dev->iommu->max_pasids) {
 *                 cmd->out_max_pasid_log2 = ilog2(idev->dev->iommu->max_pasids);
 *                 ...
 *         }
 *
 *         rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *
 * THE FAULT loses the `cmd->out_max_pasid_log2 = 0;` line (the assignment
 * inside the if reads as the whole story, and "out" members of the kernel's
 * copy look initialised): for a device without PASID (max_pasids == 0: any
 * mock device made without MOCK_FLAGS_DEVICE_PASID, a VT-d/AMD/SMMU device
 * whose unit or function lacks PASID) the answer is the caller's input byte.
 *
 * A caller that zeroes its struct once and reuses it (ask device A, then
 * device B with the same struct, as a VMM enumerating its devices does)
 * carries A's PASID width into B's answer: the VMM advertises PASID to the
 * guest for B, and every later IOMMU_HWPT_ALLOC / attach with a pasid for B
 * fails (or a guest driver programs PASID-tagged DMA the device cannot
 * issue). Any garbage in the byte of a caller that did not zero its struct
 * is reported as a PASID width the same way.
 *
 * Applied as: IOMMU_GET_HW_INFO answered by a copy of iommufd_get_hw_info
 * that writes out_max_pasid_log2 only when the device has PASIDs.
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

/** iommufd_get_hw_info without `cmd->out_max_pasid_log2 = 0;`. */
function getHwInfoPasidNotCleared(ucmd: Ucmd): number {
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
  cmd.set('data_len', data.length);
  let caps = 0;
  if (idev.dev.machine.capable(idev.dev, 'DIRTY_TRACKING')) caps |= IOMMU_HW_CAP_DIRTY_TRACKING;
  if (ictx.profile === '7.3' && !idev.dev.machine.capable(idev.dev, 'PCI_ATS_SUPPORTED')) caps |= IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
  cmd.set('out_capabilities', caps);
  // (the `cmd->out_max_pasid_log2 = 0;` is gone)
  if (idev.dev.caps.maxPasidLog2) cmd.set('out_max_pasid_log2', idev.dev.caps.maxPasidLog2);
  return iommufdUcmdRespond(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-max-pasid-not-cleared', profile, {
    handlers: { IOMMU_GET_HW_INFO: getHwInfoPasidNotCleared },
  });
}
