/**
 * R21-C2 — vfio-attach-flag-before-attach (drivers/vfio/iommufd.c
 * vfio_iommufd_physical_attach_ioas, under vfio_df_ioctl_attach_pt; 7.3).
 *
 * VFIO remembers whether its device is attached (vdev->iommufd_attached): it
 * decides whether the next VFIO_DEVICE_ATTACH_IOMMUFD_PT is an attach or a
 * replace, and whether DETACH and the final unbind call
 * iommufd_device_detach. It is set once iommufd accepted the attachment:
 *
 *     if (vdev->iommufd_attached)
 *             rc = iommufd_device_replace(vdev->iommufd_device,
 *                                         IOMMU_NO_PASID, pt_id);
 *     else
 *             rc = iommufd_device_attach(vdev->iommufd_device,
 *                                        IOMMU_NO_PASID, pt_id);
 *     if (rc)
 *             return rc;
 *     vdev->iommufd_attached = true;
 *     return 0;
 *
 * THE FAULT: the function is "simplified" into two tail calls, and the flag
 * is committed before the call that can fail:
 *
 *     if (vdev->iommufd_attached)
 *             return iommufd_device_replace(vdev->iommufd_device,
 *                                           IOMMU_NO_PASID, pt_id);
 *     vdev->iommufd_attached = true;
 *     return iommufd_device_attach(vdev->iommufd_device, IOMMU_NO_PASID,
 *                                  pt_id);
 *
 * The 7.3 iommufd core makes it look harmless: iommufd_device_detach of a
 * device that is not attached returns early (iommufd_hw_pagetable_detach:
 * `attach = xa_load(&igroup->pasid_attach, pasid); if (!attach) return NULL;`).
 * But that early return looks at the GROUP's attachment, not the device's.
 *
 * Consequences, each on a later command (a refused attach is routine: an
 * unknown or incompatible pt_id, a reserved-region conflict, the second device
 * of a group aimed at another HWPT than its sibling's):
 *   - the device is now "attached" for VFIO: every later ATTACH goes to
 *     iommufd_device_replace and fails with EINVAL (no attachment to replace),
 *     whatever pt_id it names, until a DETACH clears the flag;
 *   - when a sibling device of its iommu_group IS attached, that DETACH (or
 *     closing the device file, whose unbind detaches) runs
 *     iommufd_hw_pagetable_detach for a device that is not in the group's
 *     device_array: nothing is erased, the array is not empty, but
 *     iommufd_hw_pagetable_put drops the sibling's reference on the group's
 *     HWPT and iommufd_device_detach drops the device's own users reference.
 *     An automatic HWPT dies on the spot under the still-attached sibling
 *     (iopt_table_remove_domain empties its domain: the sibling's DMA stops
 *     translating, the IOAS no longer reaches it); a user HWPT can then be
 *     IOMMU_DESTROYed while attached. The device's own count is one short: its
 *     unbind cannot destroy it (WARN), so its DMA ownership and its iommufd
 *     reference are never given back, and after every fd is closed the
 *     context, its IOAS and the memory they pin stay; later puts of the
 *     sibling's HWPT underflow (saturated: the HWPT can never be destroyed).
 *
 * 6.12's iommufd_hw_pagetable_detach has no such early return (it list_del()s
 * an entry that was never added and detaches a NULL hwpt: an oops), so this
 * mutant models 7.3 only; on 6.12 it is the reference.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT of a device VFIO holds detached
 * sets the flag before iommufd_device_attach; DETACH and the device file's
 * release of a device flagged but not attached follow 7.3's
 * iommufd_device_detach for a non-member with the kernel's refcount_t
 * semantics (a decrement from 1 saturates and leaks instead of freeing); the
 * same saturation is applied before the reference puts a HWPT whose count
 * the fault drained (the reference would assert).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID, VFIO_DEVICE_DETACH_PASID } from '../../../spec/uapi/constants.ts';
import { iommufdDeviceAttach, iommufdDeviceDetach, iommufdDeviceUnbind } from '../../../impl/iommufd/device.ts';
import { iommufdDeviceIsAttached } from '../../../impl/iommufd/group.ts';
import { findHwptPaging } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdObjectRemove } from '../../../impl/iommufd/object.ts';
import type { IommufdObject } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdHwpt } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { type VfioDevice, vfioDeviceIoctlDecode, type VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation, type MutantHooks } from '../harness.ts';
import { dropFileBinding, releaseInstead } from './_vfio_release.ts';

/** REFCOUNT_SATURATED: where refcount_t parks a count that underflowed (it never reaches zero again). */
const REFCOUNT_SATURATED = 0x40000000;

/** HWPTs whose users count the fault drained (their later puts may underflow). */
const drained = new WeakSet<IommufdHwpt>();
/** Devices whose users count the fault drained (their unbind cannot destroy them). */
const drainedDevices = new WeakSet<IommufdDevice>();

/** refcount_dec with refcount_t semantics: a decrement from 1 WARNs and saturates. */
function refcountDecSaturating(obj: IommufdObject, warnings: string[]): void {
  if (obj.users <= 1) {
    warnings.push(`refcount_t: underflow on ${obj.type} ${obj.id}; saturated`);
    obj.users = REFCOUNT_SATURATED;
    return;
  }
  obj.users--;
}

/** Whether the object is still published in its context at its id. */
function published(obj: IommufdHwpt | IommufdDevice): boolean {
  return obj.ictx.objects.load(obj.id) === obj;
}

/**
 * Before the reference drops `puts` references on a drained HWPT: a HWPT the
 * fault freed is gone (the kernel's later put touches freed memory; here it
 * is parked so that nothing finds it by id), and a count the puts would take
 * through zero saturates first, as refcount_t does.
 */
function guardDrained(hwpt: IommufdHwpt | null, puts: number): void {
  if (!hwpt || !drained.has(hwpt)) return;
  if (!published(hwpt)) {
    hwpt.id = -1;
    hwpt.users = REFCOUNT_SATURATED;
    return;
  }
  if (hwpt.users <= puts) {
    hwpt.ictx.warnings.push(`refcount_t: underflow on HWPT ${hwpt.id}; saturated`);
    hwpt.users = REFCOUNT_SATURATED;
  }
}

/** iommufd_hw_pagetable_put with refcount_t semantics (auto: iommufd_object_put_and_try_destroy). */
function hwPagetablePutKernel(hwpt: IommufdHwpt): void {
  const ictx = hwpt.ictx;
  refcountDecSaturating(hwpt, ictx.warnings);
  if (hwpt.type === 'HWPT_PAGING' && hwpt.autoDomain && published(hwpt) && hwpt.users === 1) iommufdObjectRemove(ictx, hwpt.id);
}

/**
 * 7.3 iommufd_device_detach(idev, IOMMU_NO_PASID) for a device that is not in
 * its group's device_array: no attachment → nothing; a sibling's attachment →
 * the put and the device's refcount_dec anyway.
 */
function detachNonMember(idev: IommufdDevice): void {
  const igroup = idev.igroup;
  const hwpt = igroup.hwpt; // xa_load(&igroup->pasid_attach, pasid)->hwpt
  if (!hwpt) return; // if (!attach) return NULL; → if (!hwpt) return;
  // xa_erase(&attach->device_array, idev->obj.id) erases nothing; the array is not empty.
  const paging = findHwptPaging(hwpt);
  if (paging) ioptRemoveReservedIova(paging.ioas.iopt, idev.dev);
  drained.add(hwpt);
  hwPagetablePutKernel(hwpt);
  drainedDevices.add(idev);
  refcountDecSaturating(idev, idev.ictx.warnings);
}

/** VFIO's flag says attached while iommufd has no attachment of this device. */
function flaggedNotAttached(vdev: VfioDevice): boolean {
  const idev = vdev.iommufdDevice;
  return idev !== null && vdev.iommufdAttached && !iommufdDeviceIsAttached(idev);
}

/** vfio_iommufd_physical_detach_ioas as 7.3 runs it for a device in any state. */
function physicalDetachIoas(vdev: VfioDevice): void {
  const idev = vdev.iommufdDevice;
  if (!idev || !vdev.iommufdAttached) return;
  if (iommufdDeviceIsAttached(idev)) {
    guardDrained(idev.igroup.hwpt, 1);
    iommufdDeviceDetach(idev);
  } else {
    detachNonMember(idev);
  }
  vdev.iommufdAttached = false;
}

const vfioIoctl: NonNullable<MutantHooks['vfioIoctl']> = (df, cmd, arg, original) => {
  const d = vfioDeviceIoctlDecode(df, cmd, arg);
  if (!d.ok || d.kind !== 'vfio-argsz') return original();
  const vdev = df.device;
  const idev = vdev.iommufdDevice;
  const name = d.command.name;
  if (!idev || (name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' && name !== 'VFIO_DEVICE_DETACH_IOMMUFD_PT')) return original();
  const s = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
  const flags = s.num('flags');
  if (name === 'VFIO_DEVICE_DETACH_IOMMUFD_PT') {
    if (flags & ~VFIO_DEVICE_DETACH_PASID) return -EINVAL;
    if (flags & VFIO_DEVICE_DETACH_PASID) return -EOPNOTSUPP;
    physicalDetachIoas(vdev);
    return 0;
  }
  if (vdev.iommufdAttached) {
    // iommufd_device_replace, the reference's: a replace that succeeds moves the group's n references
    // and puts the old HWPT n times (a flagged device that is not attached fails with EINVAL first).
    if (iommufdDeviceIsAttached(idev)) guardDrained(idev.igroup.hwpt, idev.igroup.deviceList.length);
    return original();
  }
  if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
  if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
  const ptId = { value: s.num('pt_id') };
  // THE FAULT: the flag is committed before iommufd_device_attach can fail.
  vdev.iommufdAttached = true;
  const rc = iommufdDeviceAttach(idev, ptId);
  if (rc) return rc;
  s.set('pt_id', ptId.value);
  if (!df.proc.copyToUser(arg + BigInt(s.offsetOf('pt_id')), s.fieldBytes('pt_id'))) {
    physicalDetachIoas(vdev); // out_detach
    return -EFAULT;
  }
  return 0;
};

/**
 * vfio_device_fops_release → vfio_df_unbind_iommufd → vfio_df_close →
 * vfio_iommufd_physical_unbind, for the devices the fault touched: the detach
 * of a flagged device, then iommufd_device_unbind, which for a device whose
 * count was drained WARNs and leaves the object (its group ownership, its
 * group reference and its iommufd_ctx reference) in place.
 */
function release(df: VfioDeviceFile): boolean {
  const vdev = df.device;
  const idev = vdev.iommufdDevice;
  if (!df.accessGranted || vdev.openCount !== 1 || !idev) return false;
  if (!flaggedNotAttached(vdev) && !drainedDevices.has(idev)) {
    if (vdev.iommufdAttached) guardDrained(idev.igroup.hwpt, 1); // its unbind detaches: one put
    return false; // the reference's release
  }
  physicalDetachIoas(vdev);
  if (idev.users >= 2) {
    iommufdDeviceUnbind(idev);
  } else {
    // iommufd_object_destroy_user: refcount_dec saturates, refcount_dec_if_one fails: -EBUSY, WARN_ON.
    refcountDecSaturating(idev, idev.ictx.warnings);
    idev.ictx.warnings.push(`iommufd_device_unbind: device ${idev.id} not destroyed; left in place`);
  }
  vdev.iommufdDevice = null;
  vdev.openCount--;
  dropFileBinding(df);
  return true;
}

export function createAdapter(profile: Profile): Implementation {
  if (profile !== '7.3') return mutantImplementation('vfio-attach-flag-before-attach', profile, {});
  return mutantImplementation('vfio-attach-flag-before-attach', profile, {
    vfioIoctl,
    process: releaseInstead(release),
  });
}
