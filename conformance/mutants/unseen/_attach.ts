/**
 * Shared by the faults in the attach path of a device not yet attached: a
 * copy of iommufd_device_attach → iommufd_device_change_pt(do_attach), with
 * iommufd_device_auto_get_domain in attach mode and, for a new automatic
 * HWPT, iommufd_hwpt_paging_alloc with immediate attach (device.c,
 * hw_pagetable.c), over a given iommufd_hw_pagetable_attach; the pieces of
 * that attach a fault's own copy keeps (iommufd_hwpt_attach_device,
 * iommufd_device_attach_reserved_iova); and vfio_df_ioctl_attach_pt's two
 * branches (vfio_iommufd_physical_attach_ioas: attach, or replace for an
 * attached device) over given attach and replace functions. With the
 * reference's own steps they answer exactly as the reference does.
 */
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectAlloc, iommufdObjectFinalize, refcount_inc, type Result } from '../../../impl/iommufd/object.ts';
import { type IommufdCtx, type IommufdDevice, type IommufdHwpt, type IommufdHwptPaging, type IommufdIoas, PHYS_ADDR_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging, iommufdHwPagetableDetach, iommufdHwptPagingAlloc, iommufdHwptPagingEnforceCc } from '../../../impl/iommufd/hw_pagetable.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import { ioptRemoveReservedIova, ioptTableAddDomain, ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { MutantHooks } from '../harness.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';

/** iommufd_hw_pagetable_attach as a fault writes it: 0 or a negative errno. */
export type HwptAttach = (hwpt: IommufdHwpt, idev: IommufdDevice) => number;
/** iommufd_device_attach / _replace: 0 or a negative errno; `ptId` gets the HWPT the device is in. */
export type DeviceChangePt = (idev: IommufdDevice, ptId: { value: number }) => number;

/** iommufd_hwpt_attach_device: the domain check, the handle's kzalloc, iommu_attach_group_handle. */
export function hwptAttachDevice(hwpt: IommufdHwpt, idev: IommufdDevice): number {
  if (!hwpt.domain) return -EINVAL;
  if (idev.ictx.faults.shouldFail()) return -ENOMEM; // kzalloc(handle)
  return idev.dev.machine.iommuAttachGroup(hwpt.domain, idev.igroup.group);
}

/** The steps of iommufd_hw_pagetable_attach a fault may move; each one not given is the reference's. */
export interface HwPagetableAttachSteps {
  /**
   * Where the device's users reference on the HWPT is taken: at the end, once nothing can fail
   * (the kernel); right after the group test, before the steps that can still fail; or with the
   * group's first device only.
   */
  readonly takeRef?: 'end' | 'after-group-check' | 'first-device';
  /** The reserved regions are added before the group test, whose exit (err_unlock) does not undo them. */
  readonly resvBeforeGroupCheck?: boolean;
}

/** iommufd_hw_pagetable_attach (device.c) over the given steps. */
export function hwPagetableAttachWith({ takeRef = 'end', resvBeforeGroupCheck = false }: HwPagetableAttachSteps = {}): HwptAttach {
  return (hwpt, idev) => {
    const igroup = idev.igroup;
    const paging = findHwptPaging(hwpt);
    if (idev.ictx.profile !== '6.12') {
      // 7.3: the group's struct iommufd_attach (kzalloc) and the device's device_array slot, as the reference.
      const faults = idev.ictx.faults;
      if (igroup.hwpt === null && faults.shouldFail()) return -ENOMEM;
      if (igroup.deviceList.length === 0) faults.absorbedStep();
    }
    const first = igroup.deviceList.length === 0;
    const unwind = new Unwind();
    if (paging && resvBeforeGroupCheck) {
      const rc = attachReservedIova(idev, paging, first);
      if (rc) return unwind.exit(rc);
    }
    if (igroup.hwpt !== null && igroup.hwpt !== hwpt) return unwind.exit(-EINVAL);
    if (takeRef === 'after-group-check') refcount_inc(hwpt);
    if (paging) {
      if (!resvBeforeGroupCheck) {
        const rc = attachReservedIova(idev, paging, first);
        if (rc) return unwind.exit(rc);
      }
      unwind.onError('err_unresv', () => ioptRemoveReservedIova(paging.ioas.iopt, idev.dev));
    }
    if (first) {
      const rc = hwptAttachDevice(hwpt, idev);
      if (rc) return unwind.exit(rc);
      igroup.hwpt = hwpt;
      if (takeRef === 'first-device') refcount_inc(hwpt);
    }
    if (takeRef === 'end') refcount_inc(hwpt);
    igroup.deviceList.push(idev);
    return unwind.exit(0);
  };
}

/** iommufd_device_attach_reserved_iova, with iommufd_group_setup_msi on the group's first attach (`first`). */
export function attachReservedIova(idev: IommufdDevice, hwpt: IommufdHwptPaging, first: boolean): number {
  const regions = idev.dev.resvRegions();
  const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, regions, idev.dev);
  if (rc) return rc;
  for (const r of regions) if (r.type === 'sw-msi' && r.start < idev.igroup.swMsiStart) idev.igroup.swMsiStart = r.start;
  if (first && idev.igroup.swMsiStart !== PHYS_ADDR_MAX) hwpt.msiCookie = true;
  return 0;
}

/** out_detach of the immediate-attach allocation, when iopt_table_add_domain fails: the kernel's iommufd_hw_pagetable_detach. */
const referenceOutDetach = (_hwpt: IommufdHwptPaging, idev: IommufdDevice): void => void iommufdHwPagetableDetach(idev);

/**
 * iommufd_hwpt_paging_alloc(flags 0, immediate_attach) of an automatic HWPT,
 * attaching through `attach`; `outDetach` is its out_detach rung (a fault may
 * skip it), which `outDetachFirst` puts on the ladder before the attach it
 * undoes, so that a failed attach runs it too.
 */
export function hwptPagingAllocAttachedWith(attach: HwptAttach, outDetach: (hwpt: IommufdHwptPaging, idev: IommufdDevice) => void = referenceOutDetach, { outDetachFirst = false } = {}): (ictx: IommufdCtx, ioas: IommufdIoas, idev: IommufdDevice) => Result<IommufdHwptPaging> {
  return (ictx, ioas, idev) => {
    const hwpt: IommufdHwptPaging = {
      type: 'HWPT_PAGING',
      id: 0,
      users: 0,
      ictx,
      ioas,
      domain: null,
      autoDomain: false,
      nestParent: false,
      enforceCacheCoherency: false,
      pasidCompat: false,
      msiCookie: false,
      fault: null,
      inList: false,
      destroy: () => hwptPagingDestroy(hwpt),
    };
    const rc0 = iommufdObjectAlloc(ictx, hwpt);
    if (rc0) return { errno: rc0 };
    const unwind = new Unwind();
    unwind.onError('out_abort', () => iommufdObjectAbortAndDestroy(ictx, hwpt));
    refcount_inc(ioas);
    const alloc = idev.dev.iommu.driver.domainAllocPaging(idev.dev, 0, undefined);
    if (!('domain' in alloc)) return unwind.exit({ errno: alloc.errno });
    hwpt.domain = alloc.domain;
    if (idev.enforceCacheCoherency) {
      const rc = iommufdHwptPagingEnforceCc(hwpt);
      if (rc) return unwind.exit({ errno: rc });
    }
    if (outDetachFirst) unwind.onError('out_detach', () => outDetach(hwpt, idev));
    const rcAttach = attach(hwpt, idev);
    if (rcAttach) return unwind.exit({ errno: rcAttach });
    if (!outDetachFirst) unwind.onError('out_detach', () => outDetach(hwpt, idev));
    const rc = ioptTableAddDomain(ioas.iopt, hwpt.domain);
    if (rc) return unwind.exit({ errno: rc });
    ioas.hwptList.push(hwpt);
    hwpt.inList = true;
    return unwind.exit({ errno: 0, value: hwpt });
  };
}

/** The reference's iommufd_hwpt_paging_alloc with immediate attach (its own iommufd_hw_pagetable_attach). */
const referenceAllocAttached = (ictx: IommufdCtx, ioas: IommufdIoas, idev: IommufdDevice): Result<IommufdHwptPaging> => iommufdHwptPagingAlloc(ictx, ioas, idev, 0, true, undefined);

/**
 * iommufd_device_attach → iommufd_device_change_pt(iommufd_device_do_attach)
 * over `attach`; a new automatic HWPT comes from `allocAttached` (the
 * reference's allocation by default).
 */
export function deviceAttachWith({ attach, allocAttached = referenceAllocAttached }: { readonly attach: HwptAttach; readonly allocAttached?: typeof referenceAllocAttached }): DeviceChangePt {
  /** iommufd_device_auto_get_domain in attach mode. */
  const autoGetDomain = (idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }): number => {
    for (const hwpt of [...ioas.hwptList]) {
      if (!hwpt.autoDomain) continue;
      const rc = attach(hwpt, idev);
      if (rc) {
        if (rc === -EINVAL) continue;
        return rc;
      }
      ptId.value = hwpt.id;
      return 0;
    }
    const r = allocAttached(idev.ictx, ioas, idev);
    if (r.errno || !r.value) return r.errno;
    r.value.autoDomain = true;
    ptId.value = r.value.id;
    iommufdObjectFinalize(idev.ictx, r.value);
    return 0;
  };
  return (idev, ptId) => {
    const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
    if (pt.errno || !pt.value) return pt.errno;
    let rc: number;
    switch (pt.value.type) {
      case 'HWPT_NESTED':
      case 'HWPT_PAGING':
        rc = attach(pt.value as IommufdHwpt, idev);
        break;
      case 'IOAS':
        rc = autoGetDomain(idev, pt.value as IommufdIoas, ptId);
        break;
      default:
        return -EINVAL;
    }
    if (rc) return rc;
    refcount_inc(idev);
    return 0;
  };
}

/**
 * vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas: `attach` for a
 * device not attached yet, `replace` for an attached one; a branch not given
 * is the reference's.
 */
export function attachPtIoctl({ attach, replace }: { readonly attach?: DeviceChangePt; readonly replace?: DeviceChangePt }): NonNullable<MutantHooks['vfioIoctl']> {
  return (df, cmd, arg, original) => {
    const d = vfioDeviceIoctlDecode(df, cmd, arg);
    if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
    const vdev = df.device;
    const idev = vdev.iommufdDevice;
    const change = vdev.iommufdAttached ? replace : attach;
    if (!idev || !change) return original();
    const ucmd = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
    const flags = ucmd.num('flags');
    if (df.profile === '6.12') {
      if (flags) return -EINVAL;
    } else {
      if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
      if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
    }
    const ptId = { value: ucmd.num('pt_id') };
    const rc = change(idev, ptId);
    if (rc) return rc;
    vdev.iommufdAttached = true;
    ucmd.set('pt_id', ptId.value);
    if (!df.proc.copyToUser(arg + BigInt(ucmd.offsetOf('pt_id')), ucmd.fieldBytes('pt_id'))) {
      // out_detach: vfio_iommufd_physical_detach_ioas
      iommufdDeviceDetach(idev);
      vdev.iommufdAttached = false;
      return -EFAULT;
    }
    return 0;
  };
}
