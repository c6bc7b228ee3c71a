/**
 * R21-C3 — cdev-release-registration-bound-only (drivers/vfio/vfio_main.c
 * vfio_device_fops_release and drivers/vfio/device_cdev.c
 * vfio_df_unbind_iommufd; 6.12 and 7.3 alike).
 *
 * Every open of a VFIO device cdev takes a reference on the device's
 * registration (vfio_device_fops_cdev_open → vfio_device_try_get_registration:
 * "Paired with the put in vfio_device_fops_release()"), whether or not the
 * file is ever bound to an iommufd. Hot-unplug (vfio_unregister_group_dev)
 * drops the registration's own reference and then waits until every file has
 * put its one:
 *
 *     static int vfio_device_fops_release(struct inode *inode, struct file *filep)
 *     {
 *             struct vfio_device_file *df = filep->private_data;
 *             struct vfio_device *device = df->device;
 *
 *             if (df->group)
 *                     vfio_df_group_close(df);
 *             else
 *                     vfio_df_unbind_iommufd(df);
 *
 *             vfio_device_put_registration(device);
 *
 *             kfree(df);
 *             return 0;
 *     }
 *
 * THE FAULT: the put is moved into vfio_df_unbind_iommufd, next to the other
 * "undo what BIND set up" steps (iommufd_ctx_put, vfio_device_put_kvm), i.e.
 * below its early return:
 *
 *     void vfio_df_unbind_iommufd(struct vfio_device_file *df)
 *     {
 *             struct vfio_device *device = df->device;
 *
 *             if (!df->access_granted)
 *                     return;
 *
 *             mutex_lock(&device->dev_set->lock);
 *             vfio_df_close(df);
 *             vfio_device_put_kvm(device);
 *             iommufd_ctx_put(df->iommufd);
 *             device->cdev_opened = false;
 *             mutex_unlock(&device->dev_set->lock);
 *             vfio_device_unblock_group(device);
 *             vfio_device_put_registration(device);
 *     }
 *
 * so a device file that is closed without having been bound — never bound,
 * or whose VFIO_DEVICE_BIND_IOMMUFD failed (EPERM: its group is owned by
 * another iommufd; EINVAL: the device is already open through another file;
 * a bad iommufd fd, ENOMEM, ...) — keeps its registration reference for ever.
 *
 * Consequence (two files / the file and the device, several commands): the
 * file and everything else closes cleanly, the device can still be opened,
 * bound, attached and used, nothing is pinned — but it can never be removed
 * any more: the hot-unplug of the device (PCI remove, SR-IOV VF teardown, a
 * driver unbind from sysfs) blocks in vfio_unregister_group_dev for ever
 * ("Device is currently in use, task ... blocked until device is released"),
 * with no file left for anyone to close. Here the `device_remove` request is
 * refused as in use, after every file of the device has been closed.
 *
 * Applied as: the release of a VFIO device file that is not bound does not
 * give back its open reference (the reference's VfioDevice.openFiles count,
 * which is what makes a device busy for removal); a bound file's release is
 * the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';
import { releaseInstead } from './_vfio_release.ts';

/** vfio_device_fops_release of a file that never got access: vfio_df_unbind_iommufd returns early, and with it the put. */
function releaseUnbound(df: VfioDeviceFile): boolean {
  if (df.accessGranted) return false; // the reference's release (unbind, ctx put, registration put)
  // THE FAULT: vfio_device_put_registration() now sits below vfio_df_unbind_iommufd's early return.
  return true;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-release-registration-bound-only', profile, {
    process: releaseInstead(releaseUnbound),
  });
}
