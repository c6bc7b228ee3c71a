/**
 * C9 — cdev-attach-efault-no-detach (drivers/vfio/device_cdev.c
 * vfio_df_ioctl_attach_pt).
 *
 * When the copy of the resulting pt_id back to the user faults, the attach
 * that just succeeded is undone before the error is returned:
 *     if (copy_to_user(&arg->pt_id, &attach.pt_id, sizeof(attach.pt_id))) {
 *             ret = -EFAULT;
 *             goto out_detach;
 *     }
 *     ...
 * out_detach:
 *     device->ops->detach_ioas(device);
 * out_unlock:
 *     mutex_unlock(&device->dev_set->lock);
 * The fault jumps to out_unlock (the label the attach_ioas failure uses):
 * the ioctl fails with EFAULT but the device stays attached (and, for a
 * second ATTACH, stays replaced onto the new page table). Userspace that
 * sees the failure believes the device is still blocked (or still on its old
 * IOAS); the device can in fact DMA everything mapped in the IOAS it named,
 * and iommufd holds a HWPT reference for it (an IOMMU_DESTROY of that HWPT
 * is EBUSY) until the device is detached or closed.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT on a VFIO device file is the
 * reference's vfio_df_ioctl_attach_pt (and vfio_iommufd_physical_attach_ioas)
 * with that one label changed, rebuilt from the exported iommufd steps.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { vfioDeviceIoctlDecode, type VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { iommufdDeviceAttach, iommufdDeviceReplace } from '../../../impl/iommufd/device.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation } from '../harness.ts';

function attachPt(df: VfioDeviceFile, attach: UcmdStruct, arg: bigint): number {
  const flags = attach.num('flags');
  if (df.profile === '6.12') {
    if (flags) return -EINVAL;
  } else {
    if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
    if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
  }
  const vdev = df.device;
  const idev = vdev.iommufdDevice;
  if (!idev) return -EINVAL;
  const ptId = { value: attach.num('pt_id') };
  // vfio_iommufd_physical_attach_ioas
  const rc = vdev.iommufdAttached ? iommufdDeviceReplace(idev, ptId) : iommufdDeviceAttach(idev, ptId);
  if (rc) return rc;
  vdev.iommufdAttached = true;
  attach.set('pt_id', ptId.value);
  if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) {
    // THE FAULT: goto out_unlock; the device stays attached.
    return -EFAULT;
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-attach-efault-no-detach', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      return attachPt(df, new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes), arg);
    },
  });
}
