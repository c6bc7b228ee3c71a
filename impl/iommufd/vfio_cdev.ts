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
 * vfioFileEnforcedCoherent(file), VFIO_DEVICE_BIND_IOMMUFD / _ATTACH_ / _DETACH_
 * numbers.
 */
import { E2BIG, EFAULT, EINVAL, ENODEV, ENOTTY, EOPNOTSUPP, EBADF, ENOMEM } from './errno.ts';
import { KFile, sysErr, sysOk, type SysRet } from '../process/file.ts';
import type { Process } from '../process/process.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { machineFor } from '../platform/index.ts';
import type { SimDevice } from '../platform/machine.ts';
import { iommufdCtxFromFile, type IommufdCtx } from './main.ts';
import {
  iommufdDeviceAttach,
  iommufdDeviceBind,
  iommufdDeviceDetach,
  iommufdDeviceReplace,
  iommufdDeviceUnbind,
  type IommufdDevice,
} from './device.ts';

const VFIO_TYPE = 0x3b;
const VFIO_BASE = 100;
export const VFIO_DEVICE_BIND_IOMMUFD = (VFIO_TYPE << 8) | (VFIO_BASE + 18);
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = (VFIO_TYPE << 8) | (VFIO_BASE + 19);
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = (VFIO_TYPE << 8) | (VFIO_BASE + 20);
export const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0; // 7.3
export const VFIO_DEVICE_ATTACH_PASID = 1 << 0; // 7.3
export const VFIO_DEVICE_DETACH_PASID = 1 << 0; // 7.3

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
  if (!dev) return { errno: ENODEV };
  if (proc.faults.shouldFail()) return { errno: ENOMEM }; // vfio_allocate_device_file
  const vdev = vfioDeviceOf(dev);
  const df = new VfioDeviceFile(vdev, proc, profile);
  const file = new KFile('vfio-device', { release: () => vfioDeviceFopsRelease(df), ioctl: (_f, cmd, arg) => vfioDeviceFopsUnlIoctl(df, cmd, arg) }, df);
  df.file = file;
  vdev.openFiles++;
  return { errno: 0, fd: proc.fds.install(file), file };
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

function u32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(off, true);
}

/** vfio_device_fops_unl_ioctl (cdev): BIND first; anything else needs a bound file. */
function vfioDeviceFopsUnlIoctl(df: VfioDeviceFile, cmd: number, arg: bigint): SysRet {
  const ret = (rc: number): SysRet => (rc ? sysErr(rc) : sysOk(0));
  if (cmd === VFIO_DEVICE_BIND_IOMMUFD) return ret(vfioDfIoctlBindIommufd(df, arg));
  if (!df.accessGranted) return sysErr(EINVAL);
  if (cmd === VFIO_DEVICE_ATTACH_IOMMUFD_PT) return ret(vfioDfIoctlAttachPt(df, arg));
  if (cmd === VFIO_DEVICE_DETACH_IOMMUFD_PT) return ret(vfioDfIoctlDetachPt(df, arg));
  // vfio-pci's own ioctls (GET_INFO, regions, irqs, reset, features) are not modelled.
  return sysErr(ENOTTY);
}

/** copy_struct_from_user(dst of ksize, src, usize) (7.3 BIND). */
function copyStructFromUser(proc: Process, ksize: number, src: bigint, usize: number): { errno: number; bytes?: Uint8Array } {
  if (usize > ksize) {
    const tail = proc.copyFromUser(src + BigInt(ksize), usize - ksize);
    if (!tail) return { errno: EFAULT };
    if (tail.some((b) => b !== 0)) return { errno: E2BIG };
  }
  const head = proc.copyFromUser(src, Math.min(ksize, usize));
  if (!head) return { errno: EFAULT };
  const bytes = new Uint8Array(ksize);
  bytes.set(head);
  return { errno: 0, bytes };
}

/**
 * vfio_df_ioctl_bind_iommufd. 6.12 order: copy minsz (EFAULT); argsz < 16,
 * flags, iommufd < 0 → EINVAL; already bound → EINVAL; fd not open → EBADF,
 * not an iommufd → EBADFD; device already opened through another file →
 * EINVAL; iommufd_device_bind (EINVAL / EPERM / EBUSY / ENOMEM); out_devid
 * copy-back (EFAULT, undone).
 */
function vfioDfIoctlBindIommufd(df: VfioDeviceFile, arg: bigint): number {
  const { proc } = df;
  let bind: Uint8Array;
  if (df.profile === '6.12') {
    const b = proc.copyFromUser(arg, 16);
    if (!b) return EFAULT;
    bind = b;
    if (u32(bind, 0) < 16 || u32(bind, 4) || (u32(bind, 8) | 0) < 0) return EINVAL;
  } else {
    const argsz = proc.getUserU32(arg);
    if (argsz === null) return EFAULT;
    if (argsz < 16) return EINVAL;
    const c = copyStructFromUser(proc, 24, arg, argsz);
    if (c.errno || !c.bytes) return c.errno;
    bind = c.bytes;
    if ((u32(bind, 8) | 0) < 0 || u32(bind, 4) & ~VFIO_DEVICE_BIND_FLAG_TOKEN) return EINVAL;
  }
  const flags = u32(bind, 4);
  const fd = u32(bind, 8) | 0;
  // vfio_device_block_group: no legacy group file is ever opened here.
  if (df.accessGranted) return EINVAL;
  if (df.profile === '7.3' && flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
    // vfio_df_check_token → vfio_pci_core_match_token_uuid on a PF without VFs.
    const ptr = new DataView(bind.buffer, bind.byteOffset).getBigUint64(16, true);
    if (!proc.copyFromUser(ptr, 16)) return EFAULT;
    return EINVAL;
  }
  // iommufd_ctx_from_fd: a reference on the iommufd file.
  const file = proc.fds.fget(fd);
  if (!file) return EBADF;
  const c = iommufdCtxFromFile(file);
  if (c.errno || !c.ctx) {
    file.put();
    return c.errno;
  }
  df.iommufd = { ctx: c.ctx, file };
  const rc = vfioDfOpen(df);
  if (rc) {
    df.iommufd = null;
    file.put();
    return rc;
  }
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, df.devid, true);
  if (!proc.copyToUser(arg + 12n, out)) {
    vfioDfClose(df);
    df.iommufd = null;
    file.put();
    return EFAULT;
  }
  df.accessGranted = true;
  return 0;
}

/** vfio_df_open (cdev): a device opens through one file only; the first open binds. */
function vfioDfOpen(df: VfioDeviceFile): number {
  const vdev = df.device;
  if (vdev.openCount !== 0) return EINVAL;
  vdev.openCount++;
  const rc = vfioIommufdPhysicalBind(df);
  if (rc) vdev.openCount--;
  return rc;
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
  if (!idev) return EINVAL;
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
 * vfio_df_ioctl_attach_pt: copy minsz (EFAULT); argsz < 12 → EINVAL; flags
 * (6.12: any; 7.3: other than ATTACH_PASID) → EINVAL; 7.3 ATTACH_PASID →
 * EOPNOTSUPP (no pasid_attach_ioas); attach or replace; pt_id copy-back
 * (EFAULT detaches).
 */
function vfioDfIoctlAttachPt(df: VfioDeviceFile, arg: bigint): number {
  const a = df.proc.copyFromUser(arg, 12);
  if (!a) return EFAULT;
  const argsz = u32(a, 0);
  const flags = u32(a, 4);
  if (argsz < 12) return EINVAL;
  if (df.profile === '6.12') {
    if (flags) return EINVAL;
  } else {
    if (flags & ~VFIO_DEVICE_ATTACH_PASID) return EINVAL;
    if (flags & VFIO_DEVICE_ATTACH_PASID) return EOPNOTSUPP;
  }
  const ptId = { value: u32(a, 8) };
  const rc = vfioIommufdPhysicalAttachIoas(df.device, ptId);
  if (rc) return rc;
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, ptId.value, true);
  if (!df.proc.copyToUser(arg + 8n, out)) {
    vfioIommufdPhysicalDetachIoas(df.device);
    return EFAULT;
  }
  return 0;
}

/** vfio_df_ioctl_detach_pt: copy minsz (EFAULT); argsz < 8 → EINVAL; flags → EINVAL (7.3: PASID → EOPNOTSUPP). */
function vfioDfIoctlDetachPt(df: VfioDeviceFile, arg: bigint): number {
  const d = df.proc.copyFromUser(arg, 8);
  if (!d) return EFAULT;
  const flags = u32(d, 4);
  if (u32(d, 0) < 8) return EINVAL;
  if (df.profile === '6.12') {
    if (flags) return EINVAL;
  } else {
    if (flags & ~VFIO_DEVICE_DETACH_PASID) return EINVAL;
    if (flags & VFIO_DEVICE_DETACH_PASID) return EOPNOTSUPP;
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
