/**
 * R27-C3 — cdev-ioctl-gate-device-opened (drivers/vfio/vfio_main.c
 * vfio_device_fops_unl_ioctl, the gate in front of the device cdev ioctls of
 * drivers/vfio/device_cdev.c; 6.12 and 7.3 alike).
 *
 * A VFIO device cdev can be opened any number of times, but only one file at
 * a time can be bound to an iommufd (vfio_df_open: open_count must be 0), and
 * every ioctl other than VFIO_DEVICE_BIND_IOMMUFD is refused on a file that is
 * not itself bound — the per-file flag df->access_granted, published by BIND:
 *
 *     static long vfio_device_fops_unl_ioctl(struct file *filep,
 *                                            unsigned int cmd, unsigned long arg)
 *     {
 *             struct vfio_device_file *df = filep->private_data;
 *             struct vfio_device *device = df->device;
 *             ...
 *             if (cmd == VFIO_DEVICE_BIND_IOMMUFD)
 *                     return vfio_df_ioctl_bind_iommufd(df, uptr);
 *
 *             /+ Paired with smp_store_release() following vfio_df_open() +/
 *             if (!smp_load_acquire(&df->access_granted))
 *                     return -EINVAL;
 *             ...
 *             /+ cdev only ioctls +/
 *             if (IS_ENABLED(CONFIG_VFIO_DEVICE_CDEV) && !df->group) {
 *                     switch (cmd) {
 *                     case VFIO_DEVICE_ATTACH_IOMMUFD_PT:
 *                             ret = vfio_df_ioctl_attach_pt(df, uptr);
 *                     ...
 *
 * THE FAULT: the gate asks whether the *device* is open through its cdev —
 * the device-wide flag vfio-pci itself tests with vfio_device_cdev_opened()
 * (set by the same BIND, next to access_granted) — instead of whether *this
 * file* got access:
 *
 *             if (!vfio_device_cdev_opened(device))
 *                     return -EINVAL;
 *
 * With one file per device nothing changes. But once the device is bound
 * through one file, every other open file of it passes the gate: a file that
 * was never bound, or whose own VFIO_DEVICE_BIND_IOMMUFD was refused (EINVAL:
 * the device is already open; EPERM; a bad iommufd) — typically a
 * descriptor handed to a less trusted process, or left over in one — can
 * issue VFIO_DEVICE_ATTACH_IOMMUFD_PT and VFIO_DEVICE_DETACH_IOMMUFD_PT on the
 * device, acting in the binding file's iommufd (its IOAS/HWPT ids).
 *
 * Observable (two files of one device, several commands): file 1 binds the
 * device to an iommufd and attaches it to an IOAS; file 2 (unbound) answers
 * 0 where the kernel answers EINVAL to DETACH — after which the device's DMA
 * is blocked although its owner never detached it — and to ATTACH, moving the
 * device's whole group to another IOAS/HWPT of the owner's context (its DMA
 * now reaches memory the owner mapped for something else), with the pt_id
 * written back to file 2's caller. A later DETACH/ATTACH through file 1 works
 * on whatever file 2 left.
 *
 * Applied as: an ioctl on a VFIO device file that is not bound, while the
 * device is bound through another file, is decoded as on a bound file and
 * served by the reference's vfio_df_ioctl_attach_pt / vfio_df_ioctl_detach_pt;
 * BIND, and every ioctl of a bound file or of a device bound nowhere, is the
 * reference's. (read/write keep their own access_granted test.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOTTY } from '../../../impl/lib/errno.ts';
import { decodeUserIoctl, layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDfIoctlAttachPt, vfioDfIoctlDetachPt } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-ioctl-gate-device-opened', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      // vfio_device_cdev_opened(device): the device is bound through some file (BIND set it, unbind clears it).
      const deviceOpened = df.device.iommufdDevice !== null;
      // This file's own access, or a device bound nowhere: the reference's gate decides, as the kernel's would.
      if (df.accessGranted || !deviceOpened) return original();
      // THE FAULT: past the gate as if this file were bound.
      const d = decodeUserIoctl(df.proc, df.profile, 'vfio-device', cmd, arg, { deviceBound: true });
      if (!d.ok) return -d.errno;
      if (d.command.name === 'VFIO_DEVICE_BIND_IOMMUFD') return original(); // handled before the gate
      if (d.kind !== 'vfio-argsz') return -ENOTTY;
      const s = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      if (d.command.name === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return vfioDfIoctlAttachPt(df, s, arg);
      if (d.command.name === 'VFIO_DEVICE_DETACH_IOMMUFD_PT') return vfioDfIoctlDetachPt(df, s);
      return -ENOTTY; // vfio-pci's own ioctls are not modelled (the reference's answer for a bound file)
    },
  });
}
