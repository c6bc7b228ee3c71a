/**
 * cdev-bind-open-fail-keeps-ctx (drivers/vfio/device_cdev.c,
 * vfio_df_ioctl_bind_iommufd).
 *
 * The kernel (6.12 and 7.3) takes a reference on the iommufd file with
 * iommufd_ctx_from_fd() and, when opening the device fails, drops it through
 * out_put_kvm:
 *     df->iommufd = iommufd_ctx_from_fd(bind.iommufd);
 *     if (IS_ERR(df->iommufd)) {
 *             ret = PTR_ERR(df->iommufd);
 *             df->iommufd = NULL;
 *             goto out_unlock;
 *     }
 *     vfio_df_get_kvm_safe(df);
 *     ret = vfio_df_open(df);
 *     if (ret)
 *             goto out_put_kvm;
 *     ...
 * out_close_device:
 *     vfio_df_close(df);
 * out_put_kvm:
 *     vfio_device_put_kvm(device);
 *     iommufd_ctx_put(df->iommufd);
 *     df->iommufd = NULL;
 * out_unlock:
 *     mutex_unlock(&device->dev_set->lock);
 *
 * THE FAULT: the vfio_df_open() failure jumps to out_unlock, like the two
 * checks just above it (the access_granted check and the ctx lookup, which
 * have nothing to put) — a copy-paste of the neighbouring `goto out_unlock`.
 * The BIND still fails with the kernel's errno (EINVAL: the device is
 * already open through another file; EPERM: its group belongs to another
 * iommufd; ENOMEM ...), but the reference on the iommufd file is never put.
 *
 * Observable only later, on another object: once the user closes every fd of
 * that iommufd, the context is not released — its IOASes, HWPTs, access
 * objects and mock devices live on, every page they pinned stays pinned and
 * charged to locked_vm/pinned_vm, and the groups of devices still bound there
 * keep their DMA ownership. The real kernel frees all of it on the last close.
 *
 * Applied as: VFIO_DEVICE_BIND_IOMMUFD on a VFIO device file is a copy of the
 * reference's vfio_df_ioctl_bind_iommufd (vfio_df_open/_close from
 * _cdev_bind.ts) with that one label changed.
 */
import { EBADF, EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_BIND_FLAG_TOKEN } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { iommufdCtxFromFile } from '../../../impl/iommufd/iommufd_private.ts';
import { vfioDeviceIoctlDecode, type VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { dfClose, dfOpen } from './_cdev_bind.ts';

/** sizeof(uuid_t) */
const UUID_SIZE = 16;

/** vfio_df_ioctl_bind_iommufd with the vfio_df_open failure sent to out_unlock. */
function bindIommufd(df: VfioDeviceFile, bind: UcmdStruct, arg: bigint): number {
  const { proc } = df;
  const flags = bind.num('flags');
  const fd = bind.num('iommufd') | 0; // s32
  if (df.profile === '6.12') {
    if (flags || fd < 0) return -EINVAL;
  } else if (fd < 0 || flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) return -EINVAL;
  if (df.accessGranted) return -EINVAL; // goto out_unlock
  if (df.profile === '7.3' && flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
    if (!proc.copyFromUser(bind.big('token_uuid_ptr'), UUID_SIZE)) return -EFAULT;
    return -EINVAL;
  }
  // iommufd_ctx_from_fd: on failure it drops its own file reference (goto out_unlock).
  const file = proc.fds.fget(fd);
  if (!file) return -EBADF;
  const c = iommufdCtxFromFile(file);
  if (c.errno || !c.value) {
    file.put();
    return c.errno;
  }
  df.iommufd = { ctx: c.value, file };
  const rc = dfOpen(df);
  // THE FAULT: `goto out_unlock` instead of `goto out_put_kvm`: iommufd_ctx_put() and df->iommufd = NULL are skipped.
  if (rc) return rc;
  const unwind = new Unwind();
  unwind.onError('out_put_kvm', () => {
    file.put();
    df.iommufd = null;
  });
  unwind.onError('out_close_device', () => dfClose(df));
  bind.set('out_devid', df.devid);
  if (!proc.copyToUser(arg + BigInt(bind.offsetOf('out_devid')), bind.fieldBytes('out_devid'))) return unwind.exit(-EFAULT);
  df.accessGranted = true;
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-bind-open-fail-keeps-ctx', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_BIND_IOMMUFD') return original();
      return bindIommufd(df, new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes), arg);
    },
  });
}
