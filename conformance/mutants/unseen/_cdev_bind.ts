/**
 * Shared by the faults that change one step of VFIO_DEVICE_BIND_IOMMUFD on a
 * device cdev: a copy of vfio_df_ioctl_bind_iommufd (drivers/vfio/
 * device_cdev.c) whose vfio_df_open and out_close_device unwind are
 * parameters, and of vfio_df_open / vfio_df_close / the physical bind and
 * unbind they call. With the reference's own steps it answers exactly as the
 * reference does.
 */
import { EBADF, EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_BIND_FLAG_TOKEN } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { iommufdCtxFromFile } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceBind, iommufdDeviceDetach, iommufdDeviceUnbind } from '../../../impl/iommufd/device.ts';
import { vfioDeviceIoctlDecode, type VfioDevice, type VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { MutantHooks } from '../harness.ts';

/** sizeof(uuid_t) */
const UUID_SIZE = 16;

/** vfio_iommufd_physical_bind */
export function physicalBind(df: VfioDeviceFile): number {
  const r = iommufdDeviceBind(df.iommufd!.ctx, df.device.dev);
  if (r.errno || !r.value) return r.errno;
  df.device.iommufdDevice = r.value;
  df.devid = r.value.id;
  return 0;
}

/** vfio_iommufd_physical_unbind: detach if attached, then unbind. */
export function physicalUnbind(vdev: VfioDevice): void {
  const idev = vdev.iommufdDevice;
  if (!idev) return;
  if (vdev.iommufdAttached) {
    iommufdDeviceDetach(idev);
    vdev.iommufdAttached = false;
  }
  iommufdDeviceUnbind(idev);
  vdev.iommufdDevice = null;
}

/** vfio_df_open (cdev): a device opens through one file only; the first open binds. */
export function dfOpen(df: VfioDeviceFile): number {
  const vdev = df.device;
  if (vdev.openCount !== 0) return -EINVAL;
  vdev.openCount++;
  const rc = physicalBind(df);
  if (rc) vdev.openCount--;
  return rc;
}

/** vfio_df_close: the last close unbinds. */
export function dfClose(df: VfioDeviceFile): void {
  const vdev = df.device;
  if (vdev.openCount === 1) physicalUnbind(vdev);
  vdev.openCount--;
}

export interface BindSteps {
  readonly open?: (df: VfioDeviceFile) => number;
  /** The out_close_device unwind of a failed out_devid copy-back; null: skipped (straight to out_put_kvm). */
  readonly close?: ((df: VfioDeviceFile) => void) | null;
  /** A failed vfio_df_open goes to out_unlock, past out_put_kvm: the context's file reference and df->iommufd stay. */
  readonly openFailSkipsPut?: boolean;
  /** iommufd_ctx_from_fd's EBADFD path (a file that is no iommufd) returns without fput: the file's reference stays. */
  readonly wrongFileKept?: boolean;
}

/** vfio_df_ioctl_bind_iommufd with the given steps (the reference's where none is given). */
export function bindIommufdWith({ open = dfOpen, close = dfClose, openFailSkipsPut = false, wrongFileKept = false }: BindSteps): (df: VfioDeviceFile, bind: UcmdStruct, arg: bigint) => number {
  return (df, bind, arg) => {
    const { proc } = df;
    const flags = bind.num('flags');
    const fd = bind.num('iommufd') | 0; // s32
    if (df.profile === '6.12') {
      if (flags || fd < 0) return -EINVAL;
    } else if (fd < 0 || flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) return -EINVAL;
    if (df.accessGranted) return -EINVAL;
    if (df.profile === '7.3' && flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
      if (!proc.copyFromUser(bind.big('token_uuid_ptr'), UUID_SIZE)) return -EFAULT;
      return -EINVAL;
    }
    // iommufd_ctx_from_fd
    const file = proc.fds.fget(fd);
    if (!file) return -EBADF;
    const unwind = new Unwind();
    unwind.onError('out_put_file', () => file.put());
    const c = iommufdCtxFromFile(file);
    if (c.errno || !c.value) return wrongFileKept ? c.errno : unwind.exit(c.errno);
    df.iommufd = { ctx: c.value, file };
    unwind.onError('df->iommufd = NULL', () => (df.iommufd = null));
    const rc = open(df);
    if (rc) return openFailSkipsPut ? rc : unwind.exit(rc);
    if (close) unwind.onError('out_close_device', () => close(df));
    bind.set('out_devid', df.devid);
    if (!proc.copyToUser(arg + BigInt(bind.offsetOf('out_devid')), bind.fieldBytes('out_devid'))) return unwind.exit(-EFAULT);
    df.accessGranted = true;
    return unwind.exit(0);
  };
}

/** A vfioIoctl hook that serves VFIO_DEVICE_BIND_IOMMUFD with the given steps and leaves every other ioctl to the reference. */
export function bindHook(steps: BindSteps): NonNullable<MutantHooks['vfioIoctl']> {
  const bindIommufd = bindIommufdWith(steps);
  return (df, cmd, arg, original) => {
    const d = vfioDeviceIoctlDecode(df, cmd, arg);
    if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_BIND_IOMMUFD') return original();
    return bindIommufd(df, new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes), arg);
  };
}
