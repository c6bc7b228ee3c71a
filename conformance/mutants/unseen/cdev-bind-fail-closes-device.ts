/**
 * cdev-bind-fail-closes-device (drivers/vfio/device_cdev.c
 * vfio_df_ioctl_bind_iommufd, error path).
 *
 * The bind ioctl unwinds in label order:
 *
 *     ret = vfio_df_open(df);
 *     if (ret)
 *             goto out_put_kvm;
 *     ret = copy_to_user(&arg->out_devid, ...) ? -EFAULT : 0;
 *     if (ret)
 *             goto out_close_device;
 *     ...
 * out_close_device:
 *     vfio_df_close(df);
 * out_put_kvm:
 *     vfio_device_put_kvm(device);
 *     iommufd_ctx_put(df->iommufd);
 *     df->iommufd = NULL;
 *
 * THE FAULT: a failed vfio_df_open jumps one label too far up, to
 * out_close_device, and so closes a device this file never opened.
 * vfio_df_open fails with -EINVAL exactly when the device is already open
 * through another cdev file (open_count != 0); vfio_df_close then sees
 * open_count == 1, takes it for the last close and runs
 * vfio_df_device_last_close → vfio_iommufd_physical_unbind on the *other*
 * file's binding: its attachment is detached and its iommufd_device
 * unbound (DMA ownership of the group given back), and open_count drops to 0.
 * The failing ioctl still returns -EINVAL.
 *
 * Consequence for a user: any process that can open the device node a
 * second time and issue a VFIO_DEVICE_BIND_IOMMUFD (which fails, as
 * expected) silently tears down the device's binding in the first owner's
 * context: the owner's device object disappears from its iommufd (its id is
 * freed and reused), its DMA is cut off, its automatic HWPT goes away, and
 * its file keeps access but every ATTACH now fails (EINVAL: no
 * iommufd_device) until it is closed (vfio_df_close then only WARNs:
 * open_count is already 0). Meanwhile the group is free again: a third
 * opener binds it, to any context.
 *
 * Applied as: VFIO_DEVICE_BIND_IOMMUFD on a file whose device is already
 * open runs the reference's checks in order, then the faulty unwind with the
 * reference's vfio_iommufd_physical_unbind steps; a bound file whose device
 * was closed under it releases as vfio_device_fops_release does when
 * vfio_assert_device_open fails (no second close, the iommufd reference
 * dropped).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { bindHook, dfClose, dfOpen } from './_cdev_bind.ts';
import { dropFileBinding, releaseInstead } from './_vfio_release.ts';

/**
 * vfio_device_fops_release → vfio_df_unbind_iommufd for a bound file whose
 * device open_count is already 0: vfio_df_close returns on
 * vfio_assert_device_open's WARN, then the iommufd reference is put.
 */
function releaseClosedUnder(df: VfioDeviceFile): boolean {
  if (!df.accessGranted || df.device.openCount !== 0) return false;
  dropFileBinding(df);
  return true;
}

/** vfio_df_open with THE FAULT: a device open through another file is refused by `goto out_close_device` — vfio_df_close(df) on the other opener's device. */
function dfOpenClosingOther(df: VfioDeviceFile): number {
  if (df.device.openCount === 0) return dfOpen(df);
  dfClose(df);
  return -EINVAL;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-bind-fail-closes-device', profile, {
    vfioIoctl: bindHook({ open: dfOpenClosingOther }),
    process: releaseInstead(releaseClosedUnder),
  });
}
