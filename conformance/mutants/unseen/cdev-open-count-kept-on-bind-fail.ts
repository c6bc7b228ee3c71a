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
import { EBADF, EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_BIND_FLAG_TOKEN } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { iommufdCtxFromFile } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceBind, iommufdDeviceDetach, iommufdDeviceUnbind } from '../../../impl/iommufd/device.ts';
import { vfioDeviceIoctlDecode, type VfioDevice, type VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

/** sizeof(uuid_t) */
const UUID_SIZE = 16;

/** vfio_iommufd_physical_bind */
function physicalBind(df: VfioDeviceFile): number {
  const r = iommufdDeviceBind(df.iommufd!.ctx, df.device.dev);
  if (r.errno || !r.value) return r.errno;
  df.device.iommufdDevice = r.value;
  df.devid = r.value.id;
  return 0;
}

/** vfio_iommufd_physical_unbind */
function physicalUnbind(vdev: VfioDevice): void {
  const idev = vdev.iommufdDevice;
  if (!idev) return;
  if (vdev.iommufdAttached) {
    iommufdDeviceDetach(idev);
    vdev.iommufdAttached = false;
  }
  iommufdDeviceUnbind(idev);
  vdev.iommufdDevice = null;
}

/** vfio_df_open, with the fault. */
function dfOpen(df: VfioDeviceFile): number {
  const vdev = df.device;
  if (vdev.openCount !== 0) return -EINVAL;
  vdev.openCount++;
  // THE FAULT: a failed first open does not give the count back (no `device->open_count--`).
  return physicalBind(df);
}

/** vfio_df_close */
function dfClose(df: VfioDeviceFile): void {
  const vdev = df.device;
  if (vdev.openCount === 1) physicalUnbind(vdev);
  vdev.openCount--;
}

/** vfio_df_ioctl_bind_iommufd (the reference's, calling the faulty vfio_df_open). */
function bindIommufd(df: VfioDeviceFile, bind: UcmdStruct, arg: bigint): number {
  const { proc } = df;
  const flags = bind.num('flags');
  const fd = bind.num('iommufd') | 0;
  if (df.profile === '6.12') {
    if (flags || fd < 0) return -EINVAL;
  } else if (fd < 0 || flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) return -EINVAL;
  if (df.accessGranted) return -EINVAL;
  if (df.profile === '7.3' && flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
    if (!proc.copyFromUser(bind.big('token_uuid_ptr'), UUID_SIZE)) return -EFAULT;
    return -EINVAL;
  }
  const file = proc.fds.fget(fd);
  if (!file) return -EBADF;
  const unwind = new Unwind();
  unwind.onError('out_put_file', () => file.put());
  const c = iommufdCtxFromFile(file);
  if (c.errno || !c.value) return unwind.exit(c.errno);
  df.iommufd = { ctx: c.value, file };
  unwind.onError('df->iommufd = NULL', () => (df.iommufd = null));
  const rc = dfOpen(df);
  if (rc) return unwind.exit(rc);
  unwind.onError('out_close_device', () => dfClose(df));
  bind.set('out_devid', df.devid);
  if (!proc.copyToUser(arg + BigInt(bind.offsetOf('out_devid')), bind.fieldBytes('out_devid'))) return unwind.exit(-EFAULT);
  df.accessGranted = true;
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-open-count-kept-on-bind-fail', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_BIND_IOMMUFD') return original();
      return bindIommufd(df, new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes), arg);
    },
  });
}
