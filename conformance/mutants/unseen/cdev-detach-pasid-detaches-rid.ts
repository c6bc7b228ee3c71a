/**
 * R34-C3 — cdev-detach-pasid-detaches-rid (drivers/vfio/device_cdev.c
 * vfio_df_ioctl_detach_pt, VFIO_DEVICE_DETACH_IOMMUFD_PT; 7.3 only: 6.12
 * has no PASID flag and refuses every flag).
 *
 * 7.3 accepts VFIO_DEVICE_DETACH_PASID and refuses it when the driver cannot
 * detach a PASID, before anything is detached:
 *
 *     if (detach.flags & ~VFIO_DEVICE_DETACH_PASID)
 *             return -EINVAL;
 *
 *     if (detach.flags & VFIO_DEVICE_DETACH_PASID) {
 *             if (!device->ops->pasid_detach_ioas)
 *                     return -EOPNOTSUPP;
 *             xend = offsetofend(struct vfio_device_detach_iommufd_pt, pasid);
 *     }
 *     ...
 *     if (detach.flags & VFIO_DEVICE_DETACH_PASID)
 *             device->ops->pasid_detach_ioas(device, detach.pasid);
 *     else
 *             device->ops->detach_ioas(device);
 *
 * THE FAULT: the EOPNOTSUPP test went, and the dispatch keys on the op
 * instead of the flag ("fall back to the RID detach for drivers without
 * PASID support"):
 *
 *     if (detach.flags & VFIO_DEVICE_DETACH_PASID &&
 *         device->ops->pasid_detach_ioas)
 *             device->ops->pasid_detach_ioas(device, detach.pasid);
 *     else
 *             device->ops->detach_ioas(device);
 *
 * Observable (a bound device whose driver has no pasid_detach_ioas — every
 * simulated vfio device): DETACH with flags = DETACH_PASID answers 0 instead
 * of EOPNOTSUPP, and the device's RID attachment is gone: its DMA is blocked,
 * an auto domain it alone used is destroyed, and the HWPT loses a user.
 *
 * Applied as: on 7.3, a DETACH_IOMMUFD_PT with flags == DETACH_PASID on a
 * bound file is served as a RID detach (flags 0).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_DEVICE_DETACH_PASID } from '../../../spec/uapi/constants.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode, vfioDfIoctlDetachPt } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-detach-pasid-detaches-rid', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      if (df.profile !== '7.3' || !df.accessGranted) return original();
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_DETACH_IOMMUFD_PT') return original();
      const s = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      if (s.num('flags') !== VFIO_DEVICE_DETACH_PASID) return original();
      s.set('flags', 0); // no pasid_detach_ioas: device->ops->detach_ioas(device)
      return vfioDfIoctlDetachPt(df, s);
    },
  });
}
