/**
 * HWPT_PAGING objects: an iommu_domain of the device's IOMMU linked to an IOAS,
 * mirroring exactly the IOAS areas in its page table. Mirrors
 * drivers/iommu/iommufd/hw_pagetable.c: iommufd_hwpt_paging_alloc,
 * iommufd_hwpt_paging_enforce_cc, iommufd_hwpt_paging_destroy/_abort,
 * iommufd_hwpt_alloc (IOMMU_HWPT_ALLOC), and iommufd_hw_pagetable_put
 * (iommufd_private.h: auto domains self-destruct with their last device).
 *
 * Also here, though device.c has them in the kernel: attaching a device's
 * group to a HWPT and detaching it (iommufd_hw_pagetable_attach / _detach,
 * iommufd_hwpt_attach_device, iommufd_hwpt_replace_device,
 * iommufd_device_attach_reserved_iova, iommufd_group_setup_msi and the
 * group's reserved-region moves). iommufd_hwpt_paging_alloc's immediate
 * attach needs them, and device.ts (which allocates auto domains through
 * iommufd_hwpt_paging_alloc) sits above this file.
 *
 * Nested HWPTs (pt_id = a NEST_PARENT HWPT_PAGING) are roadmap draft 3: the
 * kernel's pre-driver checks are made here in order, and the driver step
 * answers EOPNOTSUPP.
 *
 * Public: iommufdHwptPagingAlloc, iommufdHwptAlloc(ucmd),
 * iommufdHwPagetablePut(ctx, hwpt), findHwptPaging, iommufdHwptPagingEnforceCc,
 * iommufdHwPagetableAttach, iommufdHwPagetableDetach, iommufdHwptReplaceDevice,
 * iommufdGroupRemoveReservedIova, iommufdGroupDoReplaceReservedIova.
 */
import { EINVAL, ENOMEM, EOPNOTSUPP } from '../lib/errno.ts';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_FAULT_ID_VALID,
} from '../../spec/uapi/constants.ts';
import type { HwptAllocData } from '../platform/iommu.ts';
import {
  iommufdGetObject,
  iommufdObjectAbortAndDestroy,
  iommufdObjectAlloc,
  iommufdObjectFinalize,
  iommufdObjectRemove,
  refcount_dec,
  refcount_inc,
  type Result,
} from './object.ts';
import {
  type IommufdCtx,
  type IommufdDevice,
  iommufdGetDevice,
  type IommufdGroup,
  type IommufdHwpt,
  type IommufdHwptPaging,
  type IommufdIoas,
  iommufdUcmdRespond,
  PHYS_ADDR_MAX,
  type Ucmd,
} from './iommufd_private.ts';
import { ioptRemoveReservedIova, ioptTableAddDomain, ioptTableEnforceDevResvRegions, ioptTableRemoveDomain } from './io_pagetable.ts';
import { Unwind } from '../lib/unwind.ts';

// ---- objects -----------------------------------------------------------------------

/** __iommufd_hwpt_destroy */
function hwptCommonDestroy(hwpt: IommufdHwptPaging): void {
  hwpt.domain?.free();
  if (hwpt.fault) refcount_dec(hwpt.fault);
  hwpt.fault = null;
}

/** iommufd_hwpt_paging_destroy (also its abort) */
function iommufdHwptPagingDestroy(hwpt: IommufdHwptPaging): void {
  if (hwpt.inList) {
    const l = hwpt.ioas.hwptList;
    l.splice(l.indexOf(hwpt), 1);
    hwpt.inList = false;
    if (hwpt.domain) ioptTableRemoveDomain(hwpt.ioas.iopt, hwpt.domain);
  }
  hwptCommonDestroy(hwpt);
  refcount_dec(hwpt.ioas);
}

/** find_hwpt_paging */
export function findHwptPaging(hwpt: IommufdHwpt | null): IommufdHwptPaging | null {
  return hwpt && hwpt.type === 'HWPT_PAGING' ? hwpt : null;
}

/** iommufd_hwpt_paging_enforce_cc: switch the domain to enforce coherency (before any map). */
export function iommufdHwptPagingEnforceCc(hwpt: IommufdHwptPaging): number {
  const domain = hwpt.domain;
  if (hwpt.enforceCacheCoherency) return 0;
  if (domain && domain.owner.enforceCacheCoherency(domain)) {
    domain.enforceCacheCoherency = true;
    hwpt.enforceCacheCoherency = true;
  }
  return hwpt.enforceCacheCoherency ? 0 : -EINVAL;
}

/**
 * iommufd_hwpt_paging_alloc: a new (unfinalized) paging HWPT for idev on ioas.
 * Check order: flags/data without a driver op → EOPNOTSUPP (every modelled
 * driver has one); unknown flags → EOPNOTSUPP; DIRTY_TRACKING without the
 * device capability → EOPNOTSUPP; FAULT_ID_VALID with NEST_PARENT → EOPNOTSUPP;
 * object alloc (ENOMEM); driver allocation; coherency; immediate attach; then
 * iopt_table_add_domain. On failure nothing is left behind.
 */
export function iommufdHwptPagingAlloc(
  ictx: IommufdCtx,
  ioas: IommufdIoas,
  idev: IommufdDevice,
  flags: number,
  immediateAttach: boolean,
  userData: HwptAllocData | undefined,
): Result<IommufdHwptPaging> {
  const machine = idev.dev.machine;
  const validFlags =
    ictx.profile === '6.12'
      ? IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING
      : IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
  if (flags & ~validFlags) return { errno: -EOPNOTSUPP };
  if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING && !machine.capable(idev.dev, 'DIRTY_TRACKING')) return { errno: -EOPNOTSUPP };
  if (flags & IOMMU_HWPT_FAULT_ID_VALID && flags & IOMMU_HWPT_ALLOC_NEST_PARENT) return { errno: -EOPNOTSUPP };

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
    destroy: () => iommufdHwptPagingDestroy(hwpt),
  };
  const rc0 = iommufdObjectAlloc(ictx, hwpt);
  if (rc0) return { errno: rc0 };
  const unwind = new Unwind();
  unwind.onError('out_abort', () => iommufdObjectAbortAndDestroy(ictx, hwpt));
  hwpt.pasidCompat = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  refcount_inc(ioas); // pairs with iommufd_hwpt_paging_destroy
  hwpt.nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;

  const alloc = idev.dev.iommu.driver.domainAllocPaging(idev.dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, userData);
  if (!('domain' in alloc)) return unwind.exit({ errno: alloc.errno });
  hwpt.domain = alloc.domain;

  // Decide coherency before iopt_table_add_domain maps anything: some formats
  // carry it in every PTE. A driver reporting the capability but refusing here
  // is a driver bug (WARN_ON in the kernel).
  if (idev.enforceCacheCoherency) {
    const rc = iommufdHwptPagingEnforceCc(hwpt);
    if (rc) return unwind.exit({ errno: rc });
  }

  if (immediateAttach) {
    const rc = iommufdHwPagetableAttach(hwpt, idev);
    if (rc) return unwind.exit({ errno: rc });
    unwind.onError('out_detach', () => iommufdHwPagetableDetach(idev));
  }

  const rc = ioptTableAddDomain(ioas.iopt, hwpt.domain);
  if (rc) return unwind.exit({ errno: rc });
  ioas.hwptList.push(hwpt);
  hwpt.inList = true;
  return unwind.exit({ errno: 0, value: hwpt });
}

/** Reader for struct iommu_user_data from the calling process. */
export function userDataOf(ictx: IommufdCtx, type: number, len: number, uptr: bigint): HwptAllocData {
  return {
    type,
    len,
    read: () => ictx.proc.copyFromUser(uptr, len) ?? undefined,
  };
}

/**
 * IOMMU_HWPT_ALLOC (iommufd_hwpt_alloc). Order: __reserved → EOPNOTSUPP;
 * data_type/data_len mismatch → EINVAL; dev_id → ENOENT; pt_id absent →
 * EINVAL; by pt type (IOAS → paging; HWPT_PAGING → nested; else EINVAL);
 * FAULT_ID_VALID → fault lookup (ENOENT); copy-back (EFAULT aborts the HWPT).
 */
export function iommufdHwptAlloc(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const dataType = cmd.num('data_type');
  const dataLen = cmd.num('data_len');
  if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return -EINVAL;
  const flags = cmd.num('flags');

  const idevR = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (idevR.errno || !idevR.value) return idevR.errno;
  const idev = idevR.value;

  const ptR = iommufdGetObject(ictx, cmd.num('pt_id'), 'ANY');
  if (ptR.errno || !ptR.value) return -EINVAL;
  const pt = ptR.value;

  const userData = dataLen ? userDataOf(ictx, dataType, dataLen, cmd.big('data_uptr')) : undefined;
  let hwpt: IommufdHwpt;
  if (pt.type === 'IOAS') {
    const r = iommufdHwptPagingAlloc(ictx, pt as IommufdIoas, idev, flags, false, userData);
    if (r.errno || !r.value) return r.errno;
    hwpt = r.value;
  } else if (pt.type === 'HWPT_PAGING') {
    return iommufdHwptNestedAllocChecks(pt as IommufdHwptPaging, idev, flags, dataLen);
  } else {
    return -EINVAL;
  }

  const unwind = new Unwind();
  unwind.onError('out_hwpt', () => iommufdObjectAbortAndDestroy(ictx, hwpt));
  if (flags & IOMMU_HWPT_FAULT_ID_VALID) {
    const f = iommufdGetObject(ictx, cmd.num('fault_id'), 'FAULT');
    if (f.errno || !f.value) return unwind.exit(f.errno);
    hwpt.fault = f.value;
    refcount_inc(f.value);
  }

  cmd.set('out_hwpt_id', hwpt.id);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  iommufdObjectFinalize(ictx, hwpt);
  return unwind.exit(0);
}

/**
 * Whether the device's driver has the op iommufd_hwpt_nested_alloc tests
 * first (!ops->domain_alloc_nested: EOPNOTSUPP before the parent is looked
 * at). 7.3: VT-d and the selftest's mock (intel_iommu_ops, mock_ops); AMD has
 * none, and SMMUv3 nests only through a vIOMMU. 6.12 tests
 * domain_alloc_user, which all four drivers have.
 */
function driverAllocatesNested(idev: IommufdDevice): boolean {
  const driver = idev.dev.iommu.driver.name;
  return idev.ictx.profile === '6.12' || driver === 'intel' || driver === 'mock';
}

/**
 * iommufd_hwpt_nested_alloc's checks before the driver: flags other than
 * FAULT_ID_VALID (7.3: and IOMMU_HWPT_ALLOC_PASID), no data, a driver with no
 * nested allocation → EOPNOTSUPP; an
 * auto / non-NEST_PARENT / foreign parent → EINVAL (clause
 * HWPT_ALLOC.NESTED_FLAGS). The driver's nested domains are roadmap draft 3
 * (EOPNOTSUPP).
 */
export function iommufdHwptNestedAllocChecks(parent: IommufdHwptPaging, idev: IommufdDevice, flags: number, dataLen: number): number {
  // 6.12 accepts FAULT_ID_VALID only; 7.3 also IOMMU_HWPT_ALLOC_PASID (hw_pagetable.c iommufd_hwpt_nested_alloc).
  const valid = idev.ictx.profile === '6.12' ? IOMMU_HWPT_FAULT_ID_VALID : IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
  if (flags & ~valid || !dataLen || !driverAllocatesNested(idev)) return -EOPNOTSUPP;
  if (parent.autoDomain || !parent.nestParent || parent.domain?.owner !== idev.dev.iommu.driver) return -EINVAL;
  return -EOPNOTSUPP;
}

/**
 * iommufd_hw_pagetable_put: drop the reference a device attachment held; an
 * auto domain is destroyed with its last user (iommufd_object_put_and_try_destroy).
 */
export function iommufdHwPagetablePut(ictx: IommufdCtx, hwpt: IommufdHwpt): void {
  if (hwpt.type === 'HWPT_PAGING' && hwpt.autoDomain) {
    refcount_dec(hwpt);
    iommufdObjectRemove(ictx, hwpt.id);
    return;
  }
  refcount_dec(hwpt);
}

// ---- attaching a device's group (device.c) ---------------------------------------

/** iommufd_device_attach_reserved_iova: the device's regions join the IOAS (per device). */
function iommufdDeviceAttachReservedIova(idev: IommufdDevice, hwpt: IommufdHwptPaging): number {
  const regions = idev.dev.resvRegions();
  const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, regions, idev.dev);
  if (rc) return rc;
  for (const r of regions) if (r.type === 'sw-msi' && r.start < idev.igroup.swMsiStart) idev.igroup.swMsiStart = r.start;
  if (idev.igroup.deviceList.length === 0) iommufdGroupSetupMsi(idev.igroup, hwpt);
  return 0;
}

/** iommufd_group_setup_msi: the MSI cookie is taken once per domain (no user-visible failure here). */
function iommufdGroupSetupMsi(igroup: IommufdGroup, hwpt: IommufdHwptPaging): void {
  if (igroup.swMsiStart !== PHYS_ADDR_MAX && !hwpt.msiCookie) hwpt.msiCookie = true;
}

/**
 * The checks 7.3 makes before it allocates the attach handle
 * (iommufd_hwpt_attach_device / _replace_device): iommufd_hwpt_compatible_device
 * (a HWPT with a fault object refuses a PCI VF with PRI: the simulated devices
 * are never VFs, so every device is compatible) and iommufd_hwpt_pasid_compat
 * (for IOMMU_NO_PASID: a HWPT without pasid_compat refuses a group that has
 * PASID attachments, which the reference has none of yet: PASID attach is
 * roadmap draft 3). 6.12 has neither check.
 */
function iommufdHwptAttachChecks(hwpt: IommufdHwpt, _idev: IommufdDevice): number {
  if (!hwpt.domain) return -EINVAL;
  return 0;
}

/**
 * iommufd_hwpt_attach_device: (7.3: the compatibility and PASID checks), the
 * handle (kzalloc: ENOMEM), then iommu_attach_group_handle.
 */
function iommufdHwptAttachDevice(hwpt: IommufdHwpt, idev: IommufdDevice): number {
  const rc = iommufdHwptAttachChecks(hwpt, idev);
  if (rc) return rc;
  if (idev.ictx.faults.shouldFail()) return -ENOMEM; // kzalloc(handle)
  return idev.dev.machine.iommuAttachGroup(hwpt.domain!, idev.igroup.group);
}

/**
 * iommufd_hw_pagetable_attach: EINVAL if the group is already on another HWPT;
 * the device's reserved regions (EADDRINUSE...); the first device of the group
 * attaches the group itself. Takes a users reference on the HWPT per device.
 */
export function iommufdHwPagetableAttach(hwpt: IommufdHwpt, idev: IommufdDevice): number {
  const igroup = idev.igroup;
  const paging = findHwptPaging(hwpt);
  if (idev.ictx.profile !== '6.12') {
    // 7.3 (igroup->pasid_attach): the group's first attach allocates its struct
    // iommufd_attach, and the device's slot in attach->device_array is taken,
    // both before the HWPT is compared. The device_array needs a node for its
    // first id, an xarray allocation fail-nth cannot make fail (absorbedStep).
    const faults = idev.ictx.faults;
    if (igroup.hwpt === null && faults.shouldFail()) return -ENOMEM; // kzalloc(attach)
    if (igroup.deviceList.length === 0) faults.absorbedStep(); // xa_insert(&attach->device_array, ...)
  }
  if (igroup.hwpt !== null && igroup.hwpt !== hwpt) return -EINVAL;
  const unwind = new Unwind();
  if (paging) {
    const rc = iommufdDeviceAttachReservedIova(idev, paging);
    if (rc) return unwind.exit(rc);
    unwind.onError('err_unresv', () => ioptRemoveReservedIova(paging.ioas.iopt, idev.dev));
  }
  if (igroup.deviceList.length === 0) {
    const rc = iommufdHwptAttachDevice(hwpt, idev);
    if (rc) return unwind.exit(rc);
    igroup.hwpt = hwpt;
  }
  refcount_inc(hwpt);
  igroup.deviceList.push(idev);
  return unwind.exit(0);
}

/** iommufd_hw_pagetable_detach: the last device detaches the group (→ blocked); returns the HWPT to put. */
export function iommufdHwPagetableDetach(idev: IommufdDevice): IommufdHwpt {
  const igroup = idev.igroup;
  const hwpt = igroup.hwpt;
  if (!hwpt) throw new Error('iommufd_hw_pagetable_detach: group not attached');
  const paging = findHwptPaging(hwpt);
  igroup.deviceList.splice(igroup.deviceList.indexOf(idev), 1);
  if (igroup.deviceList.length === 0) {
    idev.dev.machine.iommuDetachGroup(igroup.group);
    igroup.hwpt = null;
  }
  if (paging) ioptRemoveReservedIova(paging.ioas.iopt, idev.dev);
  return hwpt;
}

/** iommufd_group_remove_reserved_iova */
export function iommufdGroupRemoveReservedIova(igroup: IommufdGroup, hwpt: IommufdHwptPaging): void {
  for (const cur of igroup.deviceList) ioptRemoveReservedIova(hwpt.ioas.iopt, cur.dev);
}

/** iommufd_group_do_replace_reserved_iova: every attached device's regions join the new IOAS (if it changes). */
export function iommufdGroupDoReplaceReservedIova(igroup: IommufdGroup, hwpt: IommufdHwptPaging): number {
  const old = findHwptPaging(igroup.hwpt);
  const unwind = new Unwind();
  if (!old || hwpt.ioas !== old.ioas) {
    unwind.onError('err_unresv', () => iommufdGroupRemoveReservedIova(igroup, hwpt));
    for (const cur of igroup.deviceList) {
      const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, cur.dev.resvRegions(), cur.dev);
      if (rc) return unwind.exit(rc);
    }
  }
  iommufdGroupSetupMsi(igroup, hwpt);
  return unwind.exit(0);
}

/**
 * iommufd_hwpt_replace_device: (7.3: the compatibility and PASID checks), the
 * handle (kzalloc: ENOMEM), then iommu_replace_group_handle (all or nothing).
 */
export function iommufdHwptReplaceDevice(idev: IommufdDevice, hwpt: IommufdHwpt): number {
  const rc = iommufdHwptAttachChecks(hwpt, idev);
  if (rc) return rc;
  if (idev.ictx.faults.shouldFail()) return -ENOMEM; // kzalloc(handle)
  return idev.dev.machine.iommuReplaceGroup(idev.igroup.group, hwpt.domain!);
}

