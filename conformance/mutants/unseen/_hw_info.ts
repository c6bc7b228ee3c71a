/**
 * Shared by the faults in IOMMU_GET_HW_INFO: a copy of iommufd_get_hw_info
 * (device.c) with the steps a fault changes as parameters. With the
 * reference's own steps it answers exactly as the reference does.
 */
import { EFAULT, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_NONE,
} from '../../../spec/uapi/constants.ts';
import { iommufdGetDevice, iommufdUcmdRespond, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommuDriver } from '../../../impl/platform/iommu.ts';
import type { Machine } from '../../../impl/platform/machine.ts';
import { patchOwn } from '../harness.ts';

type DriverHwInfo = NonNullable<IommuDriver['hwInfo']>;

/**
 * Patches the hw_info op of every driver named `driver` behind the machine's
 * units (intel_iommu_hw_info, amd_iommufd_hw_info, arm_smmu_hw_info, the
 * mock's): `wrap` gets the driver's own op and gives the faulty one.
 */
export function patchDriverHwInfo(m: Machine, driver: string, wrap: (orig: DriverHwInfo) => DriverHwInfo): void {
  const drivers = new Set([...m.instances.values()].map((i) => i.driver).filter((d) => d.name === driver));
  for (const drv of drivers) if (drv.hwInfo) patchOwn(drv, 'hwInfo', (orig) => wrap(orig as DriverHwInfo));
}

/** The steps of iommufd_get_hw_info a fault may change; each one not given is the kernel's. */
export interface HwInfoSteps {
  /** clear_user(user_ptr + copy_len, data_len - copy_len): the rest of the caller's buffer is zeroed. */
  readonly clearTail?: boolean;
  /** `cmd->out_capabilities = 0` before the bits are ORed in. */
  readonly clearCapabilities?: boolean;
  /** 7.3: without IOMMU_HW_INFO_FLAG_INPUT_TYPE the type member is set to IOMMU_HW_INFO_TYPE_DEFAULT. */
  readonly defaultInputType?: boolean;
  /** `cmd->out_max_pasid_log2 = 0` before it is set from a device with PASIDs. */
  readonly clearMaxPasid?: boolean;
  /** How many bytes of __reserved the test reads (the kernel: all 3). */
  readonly reservedChecked?: number;
  /** data_len is written back as the driver's length (false: as the bytes copied). */
  readonly answersDriverLength?: boolean;
}

/** iommufd_get_hw_info over the given steps. */
export function getHwInfoWith(steps: HwInfoSteps): (ucmd: Ucmd) => number {
  const { clearTail = true, clearCapabilities = true, defaultInputType = true, clearMaxPasid = true, reservedChecked, answersDriverLength = true } = steps;
  return (ucmd) => {
    const { cmd, ctx: ictx } = ucmd;
    const flags = cmd.num('flags');
    const supported = ictx.profile === '7.3' ? IOMMU_HW_INFO_FLAG_INPUT_TYPE : 0;
    if (flags & ~supported) return -EOPNOTSUPP;
    if (cmd.fieldBytes('__reserved').subarray(0, reservedChecked).some((b) => b !== 0)) return -EOPNOTSUPP;
    if (defaultInputType && ictx.profile === '7.3' && !(flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE)) cmd.set('out_data_type', IOMMU_HW_INFO_TYPE_DEFAULT);
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
    if (clearTail && copyLen < userLen && !ictx.proc.copyToUser(uptr + BigInt(copyLen), new Uint8Array(userLen - copyLen))) return -EFAULT;
    cmd.set('data_len', answersDriverLength ? data.length : copyLen);
    let caps = clearCapabilities ? 0n : cmd.big('out_capabilities');
    if (idev.dev.machine.capable(idev.dev, 'DIRTY_TRACKING')) caps |= BigInt(IOMMU_HW_CAP_DIRTY_TRACKING);
    if (ictx.profile === '7.3' && !idev.dev.machine.capable(idev.dev, 'PCI_ATS_SUPPORTED')) caps |= BigInt(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED);
    cmd.set('out_capabilities', caps);
    if (clearMaxPasid || idev.dev.caps.maxPasidLog2) cmd.set('out_max_pasid_log2', idev.dev.caps.maxPasidLog2);
    return iommufdUcmdRespond(ucmd);
  };
}
