/**
 * Round 6a fault (device hot-remove vs. open cdev files):
 * vfio_device_fops_cdev_open (drivers/vfio/device_cdev.c) drops the
 * registration reference it took on its success path, as its error path
 * does:
 *
 *     if (!vfio_device_try_get_registration(device))
 *         return -ENODEV;
 *     df = vfio_allocate_device_file(device);
 *     ...
 *     filep->private_data = df;
 *     ...
 *     vfio_device_put_registration(device);   // belongs under err_put_registration only
 *     return 0;
 *
 * Only VFIO_DEVICE_BIND_IOMMUFD (vfio_df_open) takes the device's own
 * reference, so a cdev file that is open but not yet bound holds nothing:
 * vfio_unregister_group_dev (hot-unplug, driver unbind) finds the
 * registration at zero and completes instead of waiting for the file.
 *
 * Consequence: a device whose /dev/vfio/devices/vfioX is open but unbound
 * can be hot-removed; the file outlives its device, and a later
 * VFIO_DEVICE_BIND_IOMMUFD on it binds a device that no longer exists (it
 * claims DMA ownership of a group that is gone, and the returned dev_id
 * names a device that can never DMA), where the kernel must wait (or the
 * simulation refuse) until the file is closed.
 *
 * Applied as: around a device_remove request, a device whose open VFIO files
 * are all unbound counts as not open.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { VfioDevice } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('remove-ignores-unbound-file', profile, {
    request: (req, next, env) => {
      if (req.op !== 'device_remove') return next(req);
      const dev = env.machine().device(req.device);
      const vdev = dev?.vfio as VfioDevice | undefined;
      if (!vdev || !vdev.openFiles || vdev.openCount !== 0) return next(req);
      const open = vdev.openFiles;
      vdev.openFiles = 0; // the registration the unbound files should hold
      try {
        return next(req);
      } finally {
        vdev.openFiles = open;
      }
    },
  });
}
