/**
 * C9 — cdev-bind-efault-no-close (drivers/vfio/device_cdev.c
 * vfio_df_ioctl_bind_iommufd).
 *
 * When the copy of out_devid back to the user faults, the device that
 * vfio_df_open() just bound is closed again before the iommufd reference is
 * dropped:
 *     ret = copy_to_user(&arg->out_devid, &df->devid,
 *                        sizeof(df->devid)) ? -EFAULT : 0;
 *     if (ret)
 *             goto out_close_device;
 *     ...
 * out_close_device:
 *     vfio_df_close(df);
 * out_put_kvm:
 *     vfio_device_put_kvm(device);
 *     iommufd_ctx_put(df->iommufd);
 *     df->iommufd = NULL;
 * The fault jumps to out_put_kvm (the label the vfio_df_open failure uses),
 * skipping vfio_df_close(): the BIND fails with EFAULT and the file is not
 * granted access, but the device stays open (open_count 1) and bound to the
 * iommufd: its iommufd_device object stays in the context with the driver's
 * reference (never unbound: the file's release sees access_granted false),
 * the group's DMA ownership stays claimed by that context, and the context
 * reference iommufd_device_bind took is never put. The device can never be
 * bound again (every later BIND, from any file, is EINVAL), the device
 * object can never be destroyed, and closing the iommufd no longer frees the
 * context: its IOASes, HWPTs and their pinned, charged pages leak.
 *
 * Applied as: VFIO_DEVICE_BIND_IOMMUFD on a VFIO device file is the
 * reference's vfio_df_ioctl_bind_iommufd (with vfio_df_open and
 * vfio_iommufd_physical_bind) with that one label changed, rebuilt from the
 * exported iommufd steps.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { bindHook } from './_cdev_bind.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: a failed out_devid copy-back goes to out_put_kvm; vfio_df_close(df) is skipped.
  return mutantImplementation('cdev-bind-efault-no-close', profile, { vfioIoctl: bindHook({ close: null }) });
}
