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
import { EBADF, EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_BIND_FLAG_TOKEN } from '../../../spec/uapi/constants.ts';
import { vfioDeviceIoctlDecode, type VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { iommufdDeviceBind } from '../../../impl/iommufd/device.ts';
import { iommufdCtxFromFile } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation } from '../harness.ts';

const UUID_SIZE = 16;

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
  const c = iommufdCtxFromFile(file);
  if (c.errno || !c.value) {
    file.put();
    return c.errno;
  }
  df.iommufd = { ctx: c.value, file };
  // vfio_df_open: a cdev device opens through one file only; the first open binds.
  const vdev = df.device;
  if (vdev.openCount !== 0) {
    file.put();
    df.iommufd = null;
    return -EINVAL;
  }
  vdev.openCount++;
  const r = iommufdDeviceBind(c.value, vdev.dev);
  if (r.errno || !r.value) {
    vdev.openCount--;
    file.put();
    df.iommufd = null;
    return r.errno;
  }
  vdev.iommufdDevice = r.value;
  df.devid = r.value.id;
  bind.set('out_devid', df.devid);
  if (!proc.copyToUser(arg + BigInt(bind.offsetOf('out_devid')), bind.fieldBytes('out_devid'))) {
    // THE FAULT: goto out_put_kvm; vfio_df_close(df) is skipped.
    file.put();
    df.iommufd = null;
    return -EFAULT;
  }
  df.accessGranted = true;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-bind-efault-no-close', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_BIND_IOMMUFD') return original();
      return bindIommufd(df, new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes), arg);
    },
  });
}
