/**
 * cdev-open-count-kept-on-bind-fail (drivers/vfio/vfio_main.c vfio_df_open,
 * reached from drivers/vfio/device_cdev.c vfio_df_ioctl_bind_iommufd).
 *
 * A VFIO cdev device is opened through one file at a time; the count is
 * taken before the first open binds the device to iommufd and given back if
 * that fails:
 *
 *     if (device->open_count != 0 && !df->group)
 *             return -EINVAL;
 *     device->open_count++;
 *     if (device->open_count == 1) {
 *             ret = vfio_df_device_first_open(df);
 *             if (ret)
 *                     device->open_count--;
 *     }
 *
 * The fault drops the `open_count--` of the failure branch (the error path
 * of vfio_df_device_first_open — vfio_iommufd_physical_bind, i.e.
 * iommufd_device_bind — was reworked and the decrement went with the old
 * unwind). A bind refused by iommufd leaves device->open_count at 1 although
 * nothing is bound: no vfio_df_close will ever run for it (the file that
 * failed never got access_granted), so the count never comes back.
 *
 * Consequence: one refused VFIO_DEVICE_BIND_IOMMUFD (EPERM because a sibling
 * of the iommu group is bound to another iommufd, or ENOMEM / any other
 * failure of iommufd_device_bind) bricks the device for every later user:
 * every BIND, through this file or any newly opened one, into any context,
 * now fails with EINVAL ("already opened") — also once the other context has
 * released the group. The device can never be bound, attached or used again
 * until it is unregistered.
 *
 * Applied as: VFIO_DEVICE_BIND_IOMMUFD on a device file runs a copy of the
 * reference's vfio_df_ioctl_bind_iommufd whose vfio_df_open keeps the count
 * on failure. Every other device-file ioctl is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';
import { bindHook, physicalBind } from './_cdev_bind.ts';

/** vfio_df_open, with the fault. */
function dfOpen(df: VfioDeviceFile): number {
  const vdev = df.device;
  if (vdev.openCount !== 0) return -EINVAL;
  vdev.openCount++;
  // THE FAULT: a failed first open does not give the count back (no `device->open_count--`).
  return physicalBind(df);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-open-count-kept-on-bind-fail', profile, { vfioIoctl: bindHook({ open: dfOpen }) });
}
