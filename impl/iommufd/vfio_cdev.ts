/**
 * The VFIO device character device (/dev/vfio/devices/vfioX) of a simulated
 * vfio-pci device, as far as iommufd uses it. Mirrors
 * drivers/vfio/device_cdev.c (vfio_device_fops_cdev_open,
 * vfio_df_ioctl_bind_iommufd, vfio_df_unbind_iommufd, vfio_df_ioctl_attach_pt,
 * vfio_df_ioctl_detach_pt), drivers/vfio/iommufd.c (vfio_iommufd_physical_bind
 * / _unbind / _attach_ioas / _detach_ioas), the open-count rule of
 * vfio_main.c (vfio_df_open: a cdev device opens once) and
 * vfio_device_fops_unl_ioctl (anything but BIND before bind → EINVAL).
 *
 * Closing the file (its last reference: the fd, or a kvm-vfio registration)
 * unbinds: detach, iommufd_device_unbind, drop the iommufd ctx reference.
 *
 * 7.3: BIND takes copy_struct_from_user (E2BIG tails) and the TOKEN flag
 * (our devices are plain PFs: a token is refused with EINVAL after it is
 * read); ATTACH/DETACH accept the PASID flag syntactically and refuse it with
 * EOPNOTSUPP (the simulated driver has no pasid_attach_ioas: PASID is a later
 * issue).
 *
 * Public: class VfioDevice, class VfioDeviceFile, vfioDeviceOpen(proc,
 * profile, handle) -> { errno: 0, fd } | { errno }, vfioFileIsValid(file),
 * vfioDeviceIoctlDecode(df, cmd, arg), vfioDeviceRegionIo(file),
 * vfioFileEnforcedCoherent(file), vfioFileSetKvm, vfioCdevServes.
 */
import { EBADF, EFAULT, EINVAL, ENODEV, ENOMEM, ENOTTY, EOPNOTSUPP } from '../lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID, VFIO_DEVICE_BIND_FLAG_TOKEN, VFIO_DEVICE_DETACH_PASID } from '../../spec/uapi/constants.ts';
import type { IoctlDecode, StructDecode } from '../../spec/abi/dispatch.ts';
import { decodeUserIoctl, layoutOf, UcmdStruct } from './ucmd.ts';
import { KFile } from '../process/file.ts';
import type { Process } from '../process/process.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { machineFor } from '../platform/index.ts';
import type { SimDevice } from '../platform/iommu.ts';
import { iommufdCtxFromFile, type IommufdCtx, type IommufdDevice } from './iommufd_private.ts';
import { iommufdDeviceAttach, iommufdDeviceBind, iommufdDeviceDetach, iommufdDeviceReplace, iommufdDeviceUnbind } from './device.ts';
import { Unwind } from '../lib/unwind.ts';

/** sizeof(uuid_t): the VF token vfio_df_check_token copies. */
const UUID_SIZE = 16;

/** struct vfio_device: the registered device, shared by its open files. */
export class VfioDevice {
  /** device->open_count */
  openCount = 0;
  /** Open device files (any reference): a device with open files cannot be removed. */
  openFiles = 0;
  iommufdDevice: IommufdDevice | null = null;
  iommufdAttached = false;
  constructor(readonly dev: SimDevice) {}
}

/** struct vfio_device_file */
export class VfioDeviceFile {
  accessGranted = false;
  /** df->iommufd: the ctx and the reference on its file taken by iommufd_ctx_from_fd. */
  iommufd: { ctx: IommufdCtx; file: KFile } | null = null;
  devid = 0;
  /** The kvm-vfio device this file is registered with (vfio_file_set_kvm). */
  kvm: unknown = null;
  file: KFile | null = null;
  constructor(
    readonly device: VfioDevice,
    readonly proc: Process,
    readonly profile: Profile,
  ) {}
}

function vfioDeviceOf(dev: SimDevice): VfioDevice {
  if (!(dev.vfio instanceof VfioDevice)) dev.vfio = new VfioDevice(dev);
  return dev.vfio as VfioDevice;
}

/**
 * vfio_device_fops_cdev_open: ENODEV for a device that is gone (no
 * registration); a new file whose ioctls other than BIND are refused until bind.
 */
export function vfioDeviceOpen(proc: Process, profile: Profile, handle: number): { errno: 0; fd: number; file: KFile } | { errno: number } {
  const dev = machineFor(proc, profile).device(handle);
  if (!dev) return { errno: -ENODEV };
  if (proc.faults.shouldFail()) return { errno: -ENOMEM }; // vfio_allocate_device_file
  const vdev = vfioDeviceOf(dev);
  const df = new VfioDeviceFile(vdev, proc, profile);
  const file = new KFile(
    'vfio-device',
    {
      release: () => vfioDeviceFopsRelease(df),
      ioctl: (_f, cmd, arg) => vfioDeviceFopsUnlIoctl(df, cmd, arg),
      read: () => ({ ret: vfioDeviceFopsRw(df) }),
      write: () => vfioDeviceFopsRw(df),
    },
    df,
  );
  df.file = file;
  vdev.openFiles++;
  return { errno: 0, fd: proc.fds.install(file), file };
}

/**
 * vfio_device_fops_read / _write before device->ops: EINVAL until the file is
 * bound (access_granted). A bound file would reach vfio-pci's region access,
 * which is not modelled: see vfioDeviceRegionIo.
 */
function vfioDeviceFopsRw(df: VfioDeviceFile): number {
  if (df.accessGranted) throw new Error('vfio-pci region read/write is not modelled (callers check vfioDeviceRegionIo first)');
  return -EINVAL;
}

/** Whether read/write on this file would reach the driver's region access (vfio-pci), which the reference does not model. */
export function vfioDeviceRegionIo(file: KFile): boolean {
  return file.kind === 'vfio-device' && file.private_data instanceof VfioDeviceFile && file.private_data.accessGranted;
}

/** vfio_file_is_valid: a VFIO group or device file. */
export function vfioFileIsValid(file: KFile): boolean {
  return file.kind === 'vfio-device' && file.private_data instanceof VfioDeviceFile;
}

/**
 * vfio_file_enforced_coherent → vfio_device_enforced_coherent: the device's
 * IOMMU can enforce cache coherency (IOMMU_CAP_ENFORCE_CACHE_COHERENCY).
 * Not the attached domain's state: that is what KVM relies on.
 */
export function vfioFileEnforcedCoherent(file: KFile): boolean {
  const df = file.private_data as VfioDeviceFile;
  const dev = df.device.dev;
  if (dev.removed) return true; // no registration: vfio_device_try_get_registration failed
  return dev.machine.capable(dev, 'ENFORCE_CACHE_COHERENCY');
}

/** vfio_file_set_kvm */
export function vfioFileSetKvm(file: KFile, kvm: unknown): void {
  (file.private_data as VfioDeviceFile).kvm = kvm;
}

// ---- ioctls ---------------------------------------------------------------------

/** The decoded argsz struct (spec/abi copied what the kernel copies and checked argsz >= minsz). */
function cdevStruct(df: VfioDeviceFile, d: StructDecode): UcmdStruct {
  return new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
}

/** What vfio_device_fops_unl_ioctl makes of (cmd, arg) before the handler: spec/abi's decodeIoctl over the process's memory. */
export function vfioDeviceIoctlDecode(df: VfioDeviceFile, cmd: number, arg: bigint): IoctlDecode {
  return decodeUserIoctl(df.proc, df.profile, 'vfio-device', cmd, arg, { deviceBound: df.accessGranted });
}

/** The cdev commands vfio_device_fops_unl_ioctl handles, keyed by spec/uapi command name. */
const VFIO_CDEV_HANDLERS: { readonly [name: string]: (df: VfioDeviceFile, s: UcmdStruct, arg: bigint) => number } = {
  VFIO_DEVICE_BIND_IOMMUFD: vfioDfIoctlBindIommufd,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: vfioDfIoctlAttachPt,
  VFIO_DEVICE_DETACH_IOMMUFD_PT: (df, s) => vfioDfIoctlDetachPt(df, s),
};

/** Whether the cdev serves this command (capabilities). */
export function vfioCdevServes(name: string): boolean {
  return VFIO_CDEV_HANDLERS[name] !== undefined;
}

/**
 * vfio_device_fops_unl_ioctl (cdev): BIND first; anything else needs a bound
 * file (EINVAL); argsz/minsz and 7.3 BIND's copy_struct_from_user are spec/abi's
 * decodeIoctl over the readable prefix of the argument. vfio-pci's own ioctls
 * (GET_INFO, regions, irqs, reset, features) are not modelled: ENOTTY.
 */
function vfioDeviceFopsUnlIoctl(df: VfioDeviceFile, cmd: number, arg: bigint): number {
  const d = vfioDeviceIoctlDecode(df, cmd, arg);
  if (!d.ok) return -d.errno;
  const handler = VFIO_CDEV_HANDLERS[d.command.name];
  if (d.kind !== 'vfio-argsz' || !handler) return -ENOTTY;
  return handler(df, cdevStruct(df, d), arg);
}

/**
 * vfio_df_ioctl_bind_iommufd, after the argsz rules (6.12: copy minsz, argsz <
 * minsz → EINVAL; 7.3: get_user(argsz), argsz < minsz → EINVAL,
 * copy_struct_from_user → E2BIG/EFAULT). Then: 6.12 flags, iommufd < 0 →
 * EINVAL (7.3: iommufd < 0 or unknown flags); already bound → EINVAL; 7.3
 * TOKEN; fd not open → EBADF, not an iommufd → EBADFD; device already opened
 * through another file → EINVAL; iommufd_device_bind (EINVAL / EPERM / EBUSY
 * / ENOMEM); out_devid copy-back (EFAULT, undone).
 */
function vfioDfIoctlBindIommufd(df: VfioDeviceFile, bind: UcmdStruct, arg: bigint): number {
  const { proc } = df;
  const flags = bind.num('flags');
  const fd = bind.num('iommufd') | 0; // s32
  if (df.profile === '6.12') {
    if (flags || fd < 0) return -EINVAL;
  } else if (fd < 0 || flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) return -EINVAL;
  // vfio_device_block_group: no legacy group file is ever opened here.
  if (df.accessGranted) return -EINVAL;
  if (df.profile === '7.3' && flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
    // vfio_df_check_token → vfio_pci_core_match_token_uuid on a PF without VFs.
    if (!proc.copyFromUser(bind.big('token_uuid_ptr'), UUID_SIZE)) return -EFAULT;
    return -EINVAL;
  }
  // iommufd_ctx_from_fd: a reference on the iommufd file.
  const file = proc.fds.fget(fd);
  if (!file) return -EBADF;
  const unwind = new Unwind();
  unwind.onError('out_put_file', () => file.put());
  const c = iommufdCtxFromFile(file);
  if (c.errno || !c.value) return unwind.exit(c.errno);
  df.iommufd = { ctx: c.value, file };
  unwind.onError('df->iommufd = NULL', () => (df.iommufd = null));
  const rc = vfioDfOpen(df);
  if (rc) return unwind.exit(rc);
  unwind.onError('out_close_device', () => vfioDfClose(df));
  bind.set('out_devid', df.devid);
  if (!proc.copyToUser(arg + BigInt(bind.offsetOf('out_devid')), bind.fieldBytes('out_devid'))) return unwind.exit(-EFAULT);
  df.accessGranted = true;
  return unwind.exit(0);
}

/** vfio_df_open (cdev): a device opens through one file only; the first open binds. */
function vfioDfOpen(df: VfioDeviceFile): number {
  const vdev = df.device;
  if (vdev.openCount !== 0) return -EINVAL;
  const unwind = new Unwind();
  vdev.openCount++;
  unwind.onError('open_count--', () => vdev.openCount--);
  return unwind.exit(vfioIommufdPhysicalBind(df));
}

/** vfio_df_close: the last close unbinds. */
function vfioDfClose(df: VfioDeviceFile): void {
  const vdev = df.device;
  if (vdev.openCount === 1) vfioIommufdPhysicalUnbind(vdev);
  vdev.openCount--;
}

/** vfio_iommufd_physical_bind */
function vfioIommufdPhysicalBind(df: VfioDeviceFile): number {
  const ictx = df.iommufd!.ctx;
  const r = iommufdDeviceBind(ictx, df.device.dev);
  if (r.errno || !r.value) return r.errno;
  df.device.iommufdDevice = r.value;
  df.devid = r.value.id;
  return 0;
}

/** vfio_iommufd_physical_unbind: detach if attached, then unbind. */
function vfioIommufdPhysicalUnbind(vdev: VfioDevice): void {
  const idev = vdev.iommufdDevice;
  if (!idev) return;
  if (vdev.iommufdAttached) {
    iommufdDeviceDetach(idev);
    vdev.iommufdAttached = false;
  }
  iommufdDeviceUnbind(idev);
  vdev.iommufdDevice = null;
}

/** vfio_iommufd_physical_attach_ioas: the first attach attaches, later ones replace. */
function vfioIommufdPhysicalAttachIoas(vdev: VfioDevice, ptId: { value: number }): number {
  const idev = vdev.iommufdDevice;
  if (!idev) return -EINVAL;
  const rc = vdev.iommufdAttached ? iommufdDeviceReplace(idev, ptId) : iommufdDeviceAttach(idev, ptId);
  if (rc) return rc;
  vdev.iommufdAttached = true;
  return 0;
}

/** vfio_iommufd_physical_detach_ioas: a no-op when not attached. */
function vfioIommufdPhysicalDetachIoas(vdev: VfioDevice): void {
  const idev = vdev.iommufdDevice;
  if (!idev || !vdev.iommufdAttached) return;
  iommufdDeviceDetach(idev);
  vdev.iommufdAttached = false;
}

/**
 * vfio_df_ioctl_attach_pt, after the argsz rules (copy minsz, argsz < minsz →
 * EINVAL): flags (6.12: any; 7.3: other than ATTACH_PASID) → EINVAL; 7.3
 * ATTACH_PASID → EOPNOTSUPP (no pasid_attach_ioas, checked before the pasid
 * tail is read); attach or replace; pt_id copy-back (EFAULT detaches).
 */
export function vfioDfIoctlAttachPt(df: VfioDeviceFile, attach: UcmdStruct, arg: bigint): number {
  const flags = attach.num('flags');
  if (df.profile === '6.12') {
    if (flags) return -EINVAL;
  } else {
    if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
    if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
  }
  const ptId = { value: attach.num('pt_id') };
  const rc = vfioIommufdPhysicalAttachIoas(df.device, ptId);
  if (rc) return rc;
  const unwind = new Unwind();
  unwind.onError('out_detach', () => vfioIommufdPhysicalDetachIoas(df.device));
  attach.set('pt_id', ptId.value);
  if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) return unwind.exit(-EFAULT);
  return unwind.exit(0);
}

/** vfio_df_ioctl_detach_pt, after the argsz rules: flags → EINVAL (7.3: PASID → EOPNOTSUPP). */
export function vfioDfIoctlDetachPt(df: VfioDeviceFile, detach: UcmdStruct): number {
  const flags = detach.num('flags');
  if (df.profile === '6.12') {
    if (flags) return -EINVAL;
  } else {
    if (flags & ~VFIO_DEVICE_DETACH_PASID) return -EINVAL;
    if (flags & VFIO_DEVICE_DETACH_PASID) return -EOPNOTSUPP;
  }
  vfioIommufdPhysicalDetachIoas(df.device);
  return 0;
}

/** vfio_device_fops_release → vfio_df_unbind_iommufd: unbind and drop the iommufd reference. */
function vfioDeviceFopsRelease(df: VfioDeviceFile): void {
  if (df.accessGranted) {
    vfioDfClose(df);
    df.accessGranted = false;
    const ref = df.iommufd;
    df.iommufd = null;
    ref?.file.put();
  }
  df.device.openFiles--;
}
