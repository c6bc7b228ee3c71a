/**
 * attach-einval-leaks-devid-slot (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_attach, 7.3).
 *
 * Since the PASID rework, a group's attachment is a struct iommufd_attach in
 * igroup->pasid_attach, with the attached devices in attach->device_array,
 * keyed by the device object's id. An attach first reserves the device's slot
 * in that array, then checks that the group is not attached to another HWPT,
 * and gives the slot back on every failure:
 *
 *     old_hwpt = attach->hwpt;
 *
 *     rc = xa_insert(&attach->device_array, idev->obj.id, XA_ZERO_ENTRY,
 *                    GFP_KERNEL);
 *     if (rc) {
 *             WARN_ON(rc == -EBUSY && !old_hwpt);
 *             goto err_free_attach;
 *     }
 *
 *     if (old_hwpt && old_hwpt != hwpt) {
 *             rc = -EINVAL;
 *             goto err_release_devid;
 *     }
 *     ...
 * err_unresv:
 *     ...
 * err_release_devid:
 *     xa_release(&attach->device_array, idev->obj.id);
 * err_free_attach:
 *     if (iommufd_group_first_attach(igroup, pasid))
 *             kfree(attach);
 *
 * THE FAULT: the "group already on another HWPT" test jumps one label too far
 * (`goto err_free_attach;`, the label of the failure just above it), so the
 * reserved XA_ZERO_ENTRY of the refused device stays in attach->device_array.
 *
 * A refused attach answers -EINVAL as it must. It happens routinely: a second
 * device of a multi-device group attached to another HWPT or IOAS than its
 * sibling (the selftests and VMMs probe exactly this), and inside
 * iommufd_device_auto_get_domain, which tries the IOAS's automatic HWPTs one
 * after the other and treats -EINVAL as "try the next one". What the leaked
 * slot does shows only in later commands and on other objects:
 *   - the device can never attach to its group's HWPT again: every later
 *     xa_insert of its id is -EBUSY (VFIO_DEVICE_ATTACH_IOMMUFD_PT, by HWPT
 *     or by IOAS id, fails with EBUSY); even within one auto-domain walk, the
 *     second candidate HWPT already answers EBUSY instead of EINVAL, so an
 *     attach by IOAS id that should have reached the group's own automatic
 *     HWPT (or made a new one) fails;
 *   - a device object that later gets the same id (ids are reused lowest
 *     first) inherits the dead slot;
 *   - xa_for_each skips reserved entries, so the group's device count and
 *     reserved-region walks are right, but xa_empty() is not: when the last
 *     really attached device detaches (VFIO_DEVICE_DETACH_IOMMUFD_PT, or its
 *     file is closed) the group is never detached from the domain. The device
 *     keeps doing DMA through a HWPT iommufd no longer counts it on — a user
 *     HWPT can now be destroyed under it, an automatic one is destroyed at
 *     once (its page table emptied and freed while the group still walks it:
 *     7.3 VT-d refuses to free an attached domain and leaks it, so the DMA
 *     faults as unmapped instead of blocked). The attach handle stays in the
 *     group's pasid_array, so unbinding the devices cannot return DMA
 *     ownership (__iommu_release_dma_ownership WARNs): the group stays owned
 *     by that iommufd after every fd is closed, other contexts get EPERM and a
 *     re-bind cannot attach (EBUSY from __iommu_attach_group).
 * 6.12 keeps the attached devices on a list and has no slot to leak.
 *
 * Applied as (7.3 only; on 6.12 the mutant is the reference): a device's first
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT goes through a copy of iommufd_device_attach →
 * iommufd_device_change_pt → iommufd_device_auto_get_domain →
 * iommufd_hwpt_paging_alloc(immediate) over a copy of
 * iommufd_hw_pagetable_attach with the faulty label (the leaked ids are kept
 * per iommufd_group); VFIO_DEVICE_DETACH_IOMMUFD_PT, the pt_id copy-back
 * failure and the device file's release detach through a copy of
 * iommufd_hw_pagetable_detach that tests the array (real and leaked entries)
 * for emptiness. Device teardown follows the kernel's WARN paths, domain
 * freeing follows the drivers (VT-d 7.3 keeps an attached domain; the others
 * free it, which the model's hardware sees as no context, and a table walk of
 * it as nothing mapped). A replace of an attached device is the reference's
 * (it neither inserts into nor empties the array); only its pt_id copy-back
 * failure detaches through the copy.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID, VFIO_DEVICE_DETACH_PASID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectAlloc, iommufdObjectFinalize, refcount_dec, refcount_inc, type Result } from '../../../impl/iommufd/object.ts';
import { PHYS_ADDR_MAX, type IommufdCtx, type IommufdDevice, type IommufdGroup, type IommufdHwpt, type IommufdHwptPaging, type IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging, iommufdHwPagetablePut, iommufdHwptPagingEnforceCc } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptRemoveReservedIova, ioptTableAddDomain, ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdDeviceReplace, iommufdDeviceUnbind } from '../../../impl/iommufd/device.ts';
import { type VfioDeviceFile, vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { IommuGroup } from '../../../impl/platform/iommu.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';
import { dropFileBinding, releaseInstead } from './_vfio_release.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { deviceDestroy, patchTranslate } from './_leaked_attach.ts';

/** The per-instance state the fault adds to the reference's. */
interface Leaks {
  /** attach->device_array entries left reserved, per iommufd_group (device object ids). */
  readonly slots: WeakMap<IommufdGroup, Set<number>>;
  /** Groups whose last device detached while the array still held a reserved entry. */
  readonly keptAttached: Set<IommuGroup>;
}

function slotsOf(leaks: Leaks, igroup: IommufdGroup): Set<number> {
  let s = leaks.slots.get(igroup);
  if (!s) leaks.slots.set(igroup, (s = new Set()));
  return s;
}

// ---- iommufd_hw_pagetable_attach and its helpers (device.c, 7.3) ------------------------

/** iommufd_group_setup_msi */
function groupSetupMsi(igroup: IommufdGroup, hwpt: IommufdHwptPaging): void {
  if (igroup.swMsiStart !== PHYS_ADDR_MAX && !hwpt.msiCookie) hwpt.msiCookie = true;
}

/** iommufd_device_attach_reserved_iova (7.3: the MSI set-up on the group's first attach). */
function attachReservedIova(idev: IommufdDevice, hwpt: IommufdHwptPaging, firstAttach: boolean): number {
  const regions = idev.dev.resvRegions();
  const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, regions, idev.dev);
  if (rc) return rc;
  for (const r of regions) if (r.type === 'sw-msi' && r.start < idev.igroup.swMsiStart) idev.igroup.swMsiStart = r.start;
  if (firstAttach) groupSetupMsi(idev.igroup, hwpt);
  return 0;
}

/** iommufd_hwpt_attach_device: the handle (kzalloc), then iommu_attach_group_handle. */
function hwptAttachDevice(hwpt: IommufdHwpt, idev: IommufdDevice): number {
  if (!hwpt.domain) return -EINVAL;
  if (idev.ictx.faults.shouldFail()) return -ENOMEM; // kzalloc(handle)
  return idev.dev.machine.iommuAttachGroup(hwpt.domain, idev.igroup.group);
}

/** iommufd_hw_pagetable_attach (7.3, IOMMU_NO_PASID), with the fault. */
function hwPagetableAttach(leaks: Leaks, hwpt: IommufdHwpt, idev: IommufdDevice): number {
  const igroup = idev.igroup;
  const paging = findHwptPaging(hwpt);
  const slots = slotsOf(leaks, igroup);
  const faults = idev.ictx.faults;
  // xa_cmpxchg(&igroup->pasid_attach, ...): no iommufd_attach yet → this is the group's first attach.
  const firstAttach = igroup.hwpt === null;
  if (firstAttach && faults.shouldFail()) return -ENOMEM; // kzalloc(attach)
  // xa_insert(&attach->device_array, idev->obj.id, XA_ZERO_ENTRY): an id already there (attached or left reserved) is -EBUSY.
  if (slots.has(idev.id) || igroup.deviceList.some((d) => d.id === idev.id)) return -EBUSY;
  if (igroup.deviceList.length === 0 && slots.size === 0) faults.absorbedStep(); // the array's first node
  if (!firstAttach && igroup.hwpt !== hwpt) {
    // THE FAULT: `goto err_free_attach;` — xa_release(&attach->device_array, idev->obj.id) is skipped.
    slots.add(idev.id);
    return -EINVAL;
  }
  const unwind = new Unwind();
  if (paging) {
    const rc = attachReservedIova(idev, paging, firstAttach);
    if (rc) return unwind.exit(rc);
    unwind.onError('err_unresv', () => ioptRemoveReservedIova(paging.ioas.iopt, idev.dev));
  }
  if (firstAttach) {
    const rc = hwptAttachDevice(hwpt, idev);
    if (rc) return unwind.exit(rc);
    igroup.hwpt = hwpt;
  }
  refcount_inc(hwpt);
  igroup.deviceList.push(idev);
  return unwind.exit(0);
}

/**
 * iommufd_hw_pagetable_detach (7.3): the group leaves the domain only when
 * attach->device_array is empty — which a leaked reserved entry prevents.
 */
function hwPagetableDetach(leaks: Leaks, idev: IommufdDevice): IommufdHwpt {
  const igroup = idev.igroup;
  const hwpt = igroup.hwpt;
  if (!hwpt) throw new Error('iommufd_hw_pagetable_detach: group not attached');
  const paging = findHwptPaging(hwpt);
  igroup.deviceList.splice(igroup.deviceList.indexOf(idev), 1);
  if (igroup.deviceList.length === 0) {
    if (slotsOf(leaks, igroup).size === 0) {
      idev.dev.machine.iommuDetachGroup(igroup.group);
      igroup.hwpt = null;
    } else {
      // xa_empty(&attach->device_array) is false: no iommufd_hwpt_detach_device, the attach (and its hwpt) stays.
      leaks.keptAttached.add(igroup.group);
      idev.ictx.warnings.push(`iommufd_hw_pagetable_detach: group ${igroup.group.id} keeps its attachment (reserved device_array entries ${[...slotsOf(leaks, igroup)].join(',')})`);
    }
  }
  if (paging) ioptRemoveReservedIova(paging.ioas.iopt, idev.dev);
  return hwpt;
}

/** iommufd_device_detach */
function deviceDetach(leaks: Leaks, idev: IommufdDevice): void {
  const hwpt = hwPagetableDetach(leaks, idev);
  iommufdHwPagetablePut(idev.ictx, hwpt);
  refcount_dec(idev);
}

// ---- iommufd_hwpt_paging_alloc (immediate attach) over the faulty attach ----------------

function hwptPagingAllocImmediate(leaks: Leaks, ictx: IommufdCtx, ioas: IommufdIoas, idev: IommufdDevice): Result<IommufdHwptPaging> {
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
  refcount_inc(ioas); // pairs with iommufd_hwpt_paging_destroy
  const alloc = idev.dev.iommu.driver.domainAllocPaging(idev.dev, 0, undefined);
  if (!('domain' in alloc)) return unwind.exit({ errno: alloc.errno });
  hwpt.domain = alloc.domain;
  if (idev.enforceCacheCoherency) {
    const rc = iommufdHwptPagingEnforceCc(hwpt);
    if (rc) return unwind.exit({ errno: rc });
  }
  const rc1 = hwPagetableAttach(leaks, hwpt, idev);
  if (rc1) return unwind.exit({ errno: rc1 });
  unwind.onError('out_detach', () => hwPagetableDetach(leaks, idev));
  const rc = ioptTableAddDomain(ioas.iopt, hwpt.domain);
  if (rc) return unwind.exit({ errno: rc });
  ioas.hwptList.push(hwpt);
  hwpt.inList = true;
  return unwind.exit({ errno: 0, value: hwpt });
}

// ---- iommufd_device_attach (device.c) ----------------------------------------------------

/** iommufd_device_auto_get_domain in attach mode. */
function autoGetDomain(leaks: Leaks, idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }): number {
  for (const hwpt of [...ioas.hwptList]) {
    if (!hwpt.autoDomain) continue;
    const rc = hwPagetableAttach(leaks, hwpt, idev);
    if (rc) {
      if (rc === -EINVAL) continue;
      return rc;
    }
    ptId.value = hwpt.id;
    return 0;
  }
  const r = hwptPagingAllocImmediate(leaks, idev.ictx, ioas, idev);
  if (r.errno || !r.value) return r.errno;
  r.value.autoDomain = true;
  ptId.value = r.value.id;
  iommufdObjectFinalize(idev.ictx, r.value);
  return 0;
}

/** iommufd_device_attach → iommufd_device_change_pt(do_attach). */
function deviceAttach(leaks: Leaks, idev: IommufdDevice, ptId: { value: number }): number {
  const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
  if (pt.errno || !pt.value) return pt.errno;
  let rc: number;
  switch (pt.value.type) {
    case 'HWPT_NESTED':
    case 'HWPT_PAGING':
      rc = hwPagetableAttach(leaks, pt.value as IommufdHwpt, idev);
      break;
    case 'IOAS':
      rc = autoGetDomain(leaks, idev, pt.value as IommufdIoas, ptId);
      break;
    default:
      return -EINVAL;
  }
  if (rc) return rc;
  refcount_inc(idev);
  return 0;
}

// ---- drivers/vfio: the attach, detach and release paths over them ------------------------

/**
 * vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas: a first attach
 * through the faulty copy, a replace through the reference's
 * iommufd_device_replace; both undo through the copy of the detach.
 */
function vfioAttachPt(leaks: Leaks, df: VfioDeviceFile, attach: UcmdStruct, arg: bigint): number {
  const vdev = df.device;
  const idev = vdev.iommufdDevice!;
  const flags = attach.num('flags');
  if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
  if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
  const ptId = { value: attach.num('pt_id') };
  const rc = vdev.iommufdAttached ? iommufdDeviceReplace(idev, ptId) : deviceAttach(leaks, idev, ptId);
  if (rc) return rc;
  vdev.iommufdAttached = true;
  attach.set('pt_id', ptId.value);
  if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) {
    // out_detach: vfio_iommufd_physical_detach_ioas
    deviceDetach(leaks, idev);
    vdev.iommufdAttached = false;
    return -EFAULT;
  }
  return 0;
}

/** vfio_df_ioctl_detach_pt → vfio_iommufd_physical_detach_ioas. */
function vfioDetach(leaks: Leaks, df: VfioDeviceFile, detach: UcmdStruct): number {
  const flags = detach.num('flags');
  if (flags & ~VFIO_DEVICE_DETACH_PASID) return -EINVAL;
  if (flags & VFIO_DEVICE_DETACH_PASID) return -EOPNOTSUPP;
  const vdev = df.device;
  const idev = vdev.iommufdDevice;
  if (!idev || !vdev.iommufdAttached) return 0;
  deviceDetach(leaks, idev);
  vdev.iommufdAttached = false;
  return 0;
}

/** vfio_device_fops_release → vfio_df_unbind_iommufd → vfio_df_close → vfio_iommufd_physical_unbind. */
function vfioRelease(leaks: Leaks, df: VfioDeviceFile): boolean {
  if (!df.accessGranted) return false;
  const vdev = df.device;
  if (vdev.openCount === 1) {
    const idev = vdev.iommufdDevice;
    if (idev) {
      if (vdev.iommufdAttached) {
        deviceDetach(leaks, idev);
        vdev.iommufdAttached = false;
      }
      iommufdDeviceUnbind(idev);
      vdev.iommufdDevice = null;
    }
  }
  vdev.openCount--;
  dropFileBinding(df);
  return true;
}

export function createAdapter(profile: Profile): Implementation {
  const leaks: Leaks = { slots: new WeakMap(), keptAttached: new Set() };
  if (profile !== '7.3') return mutantImplementation('attach-einval-leaks-devid-slot', profile, {});
  const release = releaseInstead((df) => vfioRelease(leaks, df));
  return mutantImplementation('attach-einval-leaks-devid-slot', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz') return original();
      const vdev = df.device;
      if (!vdev.iommufdDevice) return original();
      const s = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      if (d.command.name === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return vfioAttachPt(leaks, df, s, arg);
      if (d.command.name === 'VFIO_DEVICE_DETACH_IOMMUFD_PT') return vfioDetach(leaks, df, s);
      return original();
    },
    process: (proc, env) => {
      leaks.keptAttached.clear();
      release(proc, env);
    },
    object: (obj) => {
      if (obj.type !== 'DEVICE') return;
      const idev = obj as IommufdDevice;
      patchOwn(idev, 'destroy', () => () => deviceDestroy(idev));
    },
    machine: (m) => patchTranslate(m),
    domain: (d) => {
      if (d.owner.name !== 'intel') return;
      patchOwn(d, 'free', (free) => () => {
        // intel_iommu_domain_free (7.3): WARN_ON(!list_empty(&dmar_domain->devices)) → return; the domain leaks, still attached.
        if ([...leaks.keptAttached].some((g) => g.domain === d)) return;
        free();
      });
    },
  });
}
