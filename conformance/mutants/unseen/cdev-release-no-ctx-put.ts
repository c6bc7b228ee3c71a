/**
 * C9 — cdev-release-no-ctx-put (drivers/vfio/device_cdev.c
 * vfio_df_unbind_iommufd).
 *
 * Closing a bound VFIO device file unbinds the device and drops the iommufd
 * reference BIND took with iommufd_ctx_from_fd():
 *     mutex_lock(&device->dev_set->lock);
 *     vfio_df_close(df);
 *     vfio_device_put_kvm(device);
 *     iommufd_ctx_put(df->iommufd);
 *     device->cdev_opened = false;
 *     mutex_unlock(&device->dev_set->lock);
 * The fault loses the iommufd_ctx_put() (as when the put moved into
 * vfio_df_close() for the group path and the cdev path was left without
 * one). The device is unbound and detached correctly, but the iommufd file
 * keeps one reference per device file ever bound to it: closing the last
 * iommufd fd no longer releases the context, so its IOASes, user-allocated
 * HWPTs (with their domains), access objects and every page they pin stay
 * pinned and charged to the process (locked_vm / pinned_vm) for ever, and
 * the DMA ownership of groups still bound through it is never given back.
 *
 * Applied as: a successful VFIO_DEVICE_BIND_IOMMUFD takes one more reference
 * on the iommufd file, which the file's release never drops (equivalent, as
 * a bound file is released exactly once and never rebound).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-release-no-ctx-put', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      const wasGranted = df.accessGranted;
      const rc = original();
      if (d.ok && d.command.name === 'VFIO_DEVICE_BIND_IOMMUFD' && rc === 0 && !wasGranted && df.accessGranted && df.iommufd) {
        // THE FAULT: the reference vfio_df_unbind_iommufd's iommufd_ctx_put() would drop is never dropped.
        df.iommufd.file.get();
      }
      return rc;
    },
  });
}
