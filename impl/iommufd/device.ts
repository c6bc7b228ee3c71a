/**
 * iommufd_device: a physical device bound to an iommufd ctx, and its
 * attachment to a HWPT. Mirrors drivers/iommu/iommufd/device.c:
 *   iommufd_device_bind / iommufd_device_unbind / iommufd_device_destroy
 *   iommufd_device_do_attach / iommufd_device_do_replace
 *   iommufd_device_auto_get_domain / iommufd_device_change_pt
 *   iommufd_device_attach / iommufd_device_replace / iommufd_device_detach
 *   iommufd_get_hw_info (IOMMU_GET_HW_INFO)
 * The group's attachment itself (iommufd_hw_pagetable_attach / _detach and
 * their helpers) is hw_pagetable.ts's; the selftest's mock-domain ops are
 * selftest.ts's.
 *
 * Groups: binding claims DMA ownership of the device's whole iommu_group for
 * the ctx (another ctx → EPERM). The first device of a group to attach attaches
 * the group; every other device of the group must attach to the same HWPT
 * (else EINVAL); each device's reserved regions join the IOAS when that device
 * attaches. Replace moves the whole group atomically.
 *
 * Public: iommufdDeviceBind, iommufdDeviceUnbind, iommufdDeviceAttach,
 * iommufdDeviceReplace, iommufdDeviceDetach, iommufdGetHwInfo(ucmd).
 */
import { EFAULT, EINVAL, EOPNOTSUPP } from '../lib/errno.ts';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_NONE,
} from '../../spec/uapi/constants.ts';
import type { SimDevice } from '../platform/iommu.ts';
import {
  iommufdGetObject,
  iommufdObjectAbort,
  iommufdObjectAbortAndDestroy,
  iommufdObjectAlloc,
  iommufdObjectDestroyUser,
  iommufdObjectFinalize,
  refcount_dec,
  refcount_inc,
  type Result,
} from './object.ts';
import {
  type IommufdCtx,
  type IommufdDevice,
  iommufdGetDevice,
  type IommufdHwpt,
  type IommufdIoas,
  iommufdUcmdRespond,
  type Ucmd,
} from './iommufd_private.ts';
import { iommufdDeviceIsAttached, iommufdGetGroup, iommufdPutGroup } from './group.ts';
import { Unwind } from '../lib/unwind.ts';
import {
  findHwptPaging,
  iommufdGroupDoReplaceReservedIova,
  iommufdGroupRemoveReservedIova,
  iommufdHwPagetableAttach,
  iommufdHwPagetableDetach,
  iommufdHwPagetablePut,
  iommufdHwptPagingAlloc,
  iommufdHwptReplaceDevice,
} from './hw_pagetable.ts';

/** iommufd_device_destroy */
function iommufdDeviceDestroy(idev: IommufdDevice): void {
  idev.dev.machine.releaseDmaOwner(idev.dev);
  iommufdPutGroup(idev.igroup);
  if (!idev.dev.isMock) idev.ictx.file?.put();
}

/**
 * iommufd_device_bind: 6.12 claims the group (iommufdBindIommu) and then
 * allocates the object (ENOMEM); 7.3 allocates first. The driver holds a users
 * reference until unbind, so DESTROY of a device id is always EBUSY.
 */
export function iommufdDeviceBind(ictx: IommufdCtx, dev: SimDevice): Result<IommufdDevice> {
  const idev: IommufdDevice = {
    type: 'DEVICE',
    id: 0,
    users: 0,
    ictx,
    dev,
    igroup: undefined as unknown as IommufdDevice['igroup'], // set by iommufd_bind_iommu
    enforceCacheCoherency: false,
    destroy: () => iommufdDeviceDestroy(idev),
  };
  const unwind = new Unwind();
  if (ictx.profile !== '6.12') {
    // 7.3: the object first, then iommufd_bind_iommu (err_out: iommufd_object_abort).
    const rc = iommufdObjectAlloc(ictx, idev);
    if (rc) return { errno: rc };
    unwind.onError('err_out', () => iommufdObjectAbort(ictx, idev));
    const b = iommufdBindIommu(ictx, idev);
    if (b) return unwind.exit({ errno: b });
  } else {
    // 6.12: the group and DMA ownership first, then the object (out_release_owner, out_group_put).
    const b = iommufdBindIommu(ictx, idev);
    if (b) return { errno: b };
    unwind.onError('out_group_put', () => iommufdPutGroup(idev.igroup));
    unwind.onError('out_release_owner', () => dev.machine.releaseDmaOwner(dev));
    const rc = iommufdObjectAlloc(ictx, idev);
    if (rc) return unwind.exit({ errno: rc });
  }
  if (!dev.isMock) ictx.file?.get();
  refcount_inc(idev); // the calling driver is a user until unbind
  iommufdObjectFinalize(ictx, idev);
  return unwind.exit({ errno: 0, value: idev });
}

/**
 * The IOMMU half of iommufd_device_bind (7.3's iommufd_bind_iommu):
 * CACHE_COHERENCY capability (EINVAL), the ctx's iommufd_group (ENOMEM), DMA
 * ownership of the group (EPERM another owner, EBUSY attached elsewhere).
 */
function iommufdBindIommu(ictx: IommufdCtx, idev: IommufdDevice): number {
  const dev = idev.dev;
  const machine = dev.machine;
  if (!machine.capable(dev, 'CACHE_COHERENCY')) return -EINVAL;
  const g = iommufdGetGroup(ictx, dev);
  if (g.errno || !g.value) return g.errno;
  const unwind = new Unwind();
  unwind.onError('out_group_put', () => iommufdPutGroup(g.value!));
  // Every simulated platform isolates MSIs (interrupt remapping / ITS), so the
  // allow_unsafe_interrupts EPERM path is never taken.
  const rc = machine.claimDmaOwner(dev, ictx);
  if (rc) return unwind.exit(rc);
  idev.igroup = g.value;
  idev.enforceCacheCoherency = machine.capable(dev, 'ENFORCE_CACHE_COHERENCY');
  return unwind.exit(0);
}

/** iommufd_device_unbind: iommufd_object_destroy_user (the device must be detached). */
export function iommufdDeviceUnbind(idev: IommufdDevice): void {
  const rc = iommufdObjectDestroyUser(idev.ictx, idev);
  if (rc) throw new Error(`iommufd_device_unbind: device ${idev.id} still referenced (errno ${rc})`);
}

// ---- attach / detach of one device ---------------------------------------------------

/** The attach_fn of iommufd_device_change_pt: `{ errno }` or the HWPT the caller must put (null = none). */
type AttachOut = { readonly errno: number; readonly destroy: IommufdHwpt | null };
type AttachFn = (idev: IommufdDevice, hwpt: IommufdHwpt) => AttachOut;

/** iommufd_device_do_attach */
const iommufdDeviceDoAttach: AttachFn = (idev, hwpt) => ({ errno: iommufdHwPagetableAttach(hwpt, idev), destroy: null });

/**
 * iommufd_device_do_replace: EINVAL unless the group is attached and this
 * device is one of its attached devices; same HWPT → no-op; otherwise the
 * whole group moves (reserved regions first, then the domain), and every
 * device's reference migrates to the new HWPT. Nothing changes on failure.
 */
const iommufdDeviceDoReplace: AttachFn = (idev, hwpt) => {
  const igroup = idev.igroup;
  const paging = findHwptPaging(hwpt);
  if (igroup.hwpt === null) return { errno: -EINVAL, destroy: null };
  if (!iommufdDeviceIsAttached(idev)) return { errno: -EINVAL, destroy: null };
  if (hwpt === igroup.hwpt) return { errno: 0, destroy: null };
  const oldHwpt = igroup.hwpt;
  const unwind = new Unwind();
  if (paging) {
    const rc = iommufdGroupDoReplaceReservedIova(igroup, paging);
    if (rc) return unwind.exit({ errno: rc, destroy: null });
    // As the kernel (6.12 and 7.3, err_unresv): the group's reservations are
    // dropped from the new HWPT's IOAS even when it is the old IOAS too, so a
    // failed same-IOAS replace loses the devices' reserved regions there.
    unwind.onError('err_unresv', () => iommufdGroupRemoveReservedIova(igroup, paging));
  }
  const rc = iommufdHwptReplaceDevice(idev, hwpt);
  if (rc) return unwind.exit({ errno: rc, destroy: null });
  unwind.exit(0);
  const oldPaging = findHwptPaging(oldHwpt);
  if (oldPaging && (!paging || paging.ioas !== oldPaging.ioas)) iommufdGroupRemoveReservedIova(igroup, oldPaging);
  igroup.hwpt = hwpt;
  const n = igroup.deviceList.length;
  // Move the device_list's references; keep one on the old HWPT for the caller to put.
  for (let i = 0; i < n; i++) refcount_inc(hwpt);
  for (let i = 0; i < n - 1; i++) refcount_dec(oldHwpt);
  return { errno: 0, destroy: oldHwpt };
};

/**
 * iommufd_device_auto_get_domain: try each auto HWPT of the IOAS in order
 * (EINVAL = incompatible → next; any other error aborts); else a new auto
 * HWPT (attach: allocated with immediate attach; replace: attached after).
 */
function iommufdDeviceAutoGetDomain(idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }, doAttach: AttachFn): AttachOut {
  const immediateAttach = doAttach === iommufdDeviceDoAttach;
  for (const hwpt of [...ioas.hwptList]) {
    if (!hwpt.autoDomain) continue;
    const out = doAttach(idev, hwpt);
    if (out.errno) {
      if (out.errno === -EINVAL) continue;
      return out;
    }
    ptId.value = hwpt.id;
    return out;
  }
  const r = iommufdHwptPagingAlloc(idev.ictx, ioas, idev, 0, immediateAttach, undefined);
  if (r.errno || !r.value) return { errno: r.errno, destroy: null };
  const hwpt = r.value;
  const unwind = new Unwind();
  unwind.onError('out_abort', () => iommufdObjectAbortAndDestroy(idev.ictx, hwpt));
  let destroy: IommufdHwpt | null = null;
  if (!immediateAttach) {
    const out = doAttach(idev, hwpt);
    if (out.errno) return unwind.exit(out);
    destroy = out.destroy;
  }
  unwind.exit(0);
  hwpt.autoDomain = true;
  ptId.value = hwpt.id;
  iommufdObjectFinalize(idev.ictx, hwpt);
  return { errno: 0, destroy };
}

/** iommufd_device_change_pt: pt_id absent → ENOENT; HWPT → direct; IOAS → auto domain; other → EINVAL. */
function iommufdDeviceChangePt(idev: IommufdDevice, ptId: { value: number }, doAttach: AttachFn): number {
  const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
  if (pt.errno || !pt.value) return pt.errno;
  let out: AttachOut;
  switch (pt.value.type) {
    case 'HWPT_NESTED':
    case 'HWPT_PAGING':
      out = doAttach(idev, pt.value as IommufdHwpt);
      break;
    case 'IOAS':
      out = iommufdDeviceAutoGetDomain(idev, pt.value as IommufdIoas, ptId, doAttach);
      break;
    default:
      return -EINVAL;
  }
  if (out.errno) return out.errno;
  if (out.destroy) iommufdHwPagetablePut(idev.ictx, out.destroy);
  return 0;
}

/** iommufd_device_attach: pt_id in (IOAS or HWPT), out (the HWPT id). Takes a users reference on the device. */
export function iommufdDeviceAttach(idev: IommufdDevice, ptId: { value: number }): number {
  const rc = iommufdDeviceChangePt(idev, ptId, iommufdDeviceDoAttach);
  if (rc) return rc;
  refcount_inc(idev);
  return 0;
}

/** iommufd_device_replace: as attach, for an attached device; no change on failure. */
export function iommufdDeviceReplace(idev: IommufdDevice, ptId: { value: number }): number {
  return iommufdDeviceChangePt(idev, ptId, iommufdDeviceDoReplace);
}

/** iommufd_device_detach: back to blocked DMA; an auto HWPT may self-destruct. */
export function iommufdDeviceDetach(idev: IommufdDevice): void {
  const hwpt = iommufdHwPagetableDetach(idev);
  iommufdHwPagetablePut(idev.ictx, hwpt);
  refcount_dec(idev);
}

// ---- IOMMU_GET_HW_INFO ----------------------------------------------------------------

/**
 * iommufd_get_hw_info. Order: flags (6.12: any; 7.3: other than INPUT_TYPE)
 * → EOPNOTSUPP; __reserved → EOPNOTSUPP; dev_id → ENOENT; driver hw_info
 * errors; copy min(data_len, driver length) (EFAULT), zero the rest of the
 * user buffer (EFAULT); data_len out = driver length; capabilities; respond.
 */
export function iommufdGetHwInfo(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  const flags = cmd.num('flags');
  const supported = ictx.profile === '7.3' ? IOMMU_HW_INFO_FLAG_INPUT_TYPE : 0;
  if (flags & ~supported) return -EOPNOTSUPP;
  if (cmd.fieldBytes('__reserved').some((b) => b !== 0)) return -EOPNOTSUPP;
  if (ictx.profile === '7.3' && !(flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE)) cmd.set('out_data_type', IOMMU_HW_INFO_TYPE_DEFAULT);
  const r = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (r.errno || !r.value) return r.errno;
  const idev = r.value;
  const drv = idev.dev.iommu.driver;
  let data: Uint8Array = new Uint8Array(0);
  if (drv.hwInfo) {
    const info = drv.hwInfo(idev.dev, cmd.num('out_data_type'));
    if (!('data' in info)) return info.errno;
    data = info.data;
    cmd.set('out_data_type', info.type);
  } else {
    cmd.set('out_data_type', IOMMU_HW_INFO_TYPE_NONE);
  }
  const userLen = cmd.num('data_len');
  const uptr = cmd.big('data_uptr');
  const copyLen = Math.min(userLen, data.length);
  if (copyLen && !ictx.proc.copyToUser(uptr, data.subarray(0, copyLen))) return -EFAULT;
  if (copyLen < userLen && !ictx.proc.copyToUser(uptr + BigInt(copyLen), new Uint8Array(userLen - copyLen))) return -EFAULT;
  cmd.set('data_len', data.length);
  let caps = 0;
  if (idev.dev.machine.capable(idev.dev, 'DIRTY_TRACKING')) caps |= IOMMU_HW_CAP_DIRTY_TRACKING;
  // 7.3: report when ATS cannot be used for this device
  if (ictx.profile === '7.3' && !idev.dev.machine.capable(idev.dev, 'PCI_ATS_SUPPORTED')) caps |= IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
  cmd.set('out_capabilities', caps);
  // max_pasids of the device: PASID enabled at probe when device and IOMMU support it.
  cmd.set('out_max_pasid_log2', idev.dev.caps.maxPasidLog2);
  return iommufdUcmdRespond(ucmd);
}

