/**
 * paging-alloc-add-domain-fail-skips-detach (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_paging_alloc, immediate-attach mode).
 *
 * Attaching a device to an IOAS that has no automatic HWPT the device can use
 * (VFIO_DEVICE_ATTACH_IOMMUFD_PT / IOMMU_TEST_OP_MOCK_DOMAIN with an IOAS
 * pt_id → iommufd_device_auto_get_domain) allocates one in immediate-attach
 * mode: the group is attached to the new domain first, and only then is the
 * IOAS's content copied into it. The unwind undoes the attach when the
 * second step fails:
 *
 *     if (immediate_attach) {
 *             rc = iommufd_hw_pagetable_attach(hwpt, idev, pasid);
 *             if (rc)
 *                     goto out_abort;
 *     }
 *
 *     rc = iopt_table_add_domain(&ioas->iopt, hwpt->domain);
 *     if (rc)
 *             goto out_detach;
 *     ...
 * out_detach:
 *     if (immediate_attach)
 *             iommufd_hw_pagetable_detach(idev, pasid);
 * out_abort:
 *     iommufd_object_abort_and_destroy(ictx, &hwpt->obj);
 *
 * The fault is the first label copied to the second test (`goto out_abort;`
 * after iopt_table_add_domain): a failed add_domain destroys the HWPT while
 * the group is still attached to its domain and still records it.
 *
 * iopt_table_add_domain fails on ordinary input: an area the new domain's
 * IO page size cannot map (a mapping at an IOVA or length that is not a
 * multiple of 4 KiB, made while the IOAS had no domain: EADDRINUSE), an area
 * outside the domain's aperture (a 39-bit VT-d unit, the mock's window:
 * EADDRINUSE), a pin that faults or exceeds RLIMIT_MEMLOCK while the domain is
 * filled (EFAULT / ENOMEM), an allocation. The attach answers that errno, as
 * it must; what it leaves behind shows only in later commands:
 *   - the device's reserved regions (the x86 MSI window 0xfee00000..0xfeefffff,
 *     the AMD HT hole, the SMMU's software MSI window, device RMRR-like
 *     ranges) stay reserved in the IOAS: IOMMU_IOAS_IOVA_RANGES reports holes
 *     for a device that is not attached, and IOAS_MAP / COPY there fail;
 *   - the group still records the dead HWPT (6.12 igroup->hwpt; 7.3 the
 *     IOMMU_NO_PASID iommufd_attach with the device in its device_array):
 *     every later attach of that device fails, EBUSY on 7.3 (xa_insert of an
 *     id already there), EINVAL on 6.12, and every sibling of its group gets
 *     EINVAL, even after the bad mapping is gone;
 *   - the iommu core keeps the group on the destroyed domain with its attach
 *     handle installed, so unbinding cannot return DMA ownership
 *     (__iommu_release_dma_ownership WARNs on the non-empty pasid_array): the
 *     group stays owned by the context after every fd is closed, another
 *     context's bind is EPERM, and a re-bind in the same context cannot attach
 *     (EBUSY from __iommu_attach_group);
 *   - the domain is freed under the attached group (a use-after-free of the
 *     page table the device walks); 7.3's VT-d refuses to free a domain with
 *     devices (WARN, leaked) and the device keeps walking that empty table:
 *     its DMA faults as unmapped rather than blocked.
 *
 * Applied as: the first attach of a device (VFIO_DEVICE_ATTACH_IOMMUFD_PT of
 * an unattached device, IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS)) goes through a copy
 * of iommufd_device_attach → iommufd_device_change_pt →
 * iommufd_device_auto_get_domain → iommufd_hwpt_paging_alloc(immediate) with
 * the faulty label, over a copy of iommufd_hw_pagetable_attach that answers
 * for the state it leaves as the kernel does (7.3: the stale device_array
 * entry is EBUSY). Domain freeing follows the drivers (VT-d 7.3 keeps an
 * attached domain; the others free it, which the model's hardware sees as no
 * context, and a table walk of it as nothing mapped). Device teardown follows
 * the kernel's WARN paths: iommu_device_release_dma_owner keeps ownership
 * while the stale handle is installed, and iommufd_group_release frees the
 * igroup despite its recorded attachment.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectAlloc, iommufdObjectFinalize, refcount_inc, type Result } from '../../../impl/iommufd/object.ts';
import { PHYS_ADDR_MAX, type IommufdCtx, type IommufdDevice, type IommufdGroup, type IommufdHwpt, type IommufdHwptPaging, type IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging, iommufdHwptPagingEnforceCc } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptRemoveReservedIova, ioptTableAddDomain, ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdPutGroup } from '../../../impl/iommufd/group.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';
import { mockDomainHandler } from './_mock_domain.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

// ---- iommufd_hw_pagetable_attach and its helpers (device.c) ----------------------------

/** iommufd_group_setup_msi */
function groupSetupMsi(igroup: IommufdGroup, hwpt: IommufdHwptPaging): void {
  if (igroup.swMsiStart !== PHYS_ADDR_MAX && !hwpt.msiCookie) hwpt.msiCookie = true;
}

/** iommufd_device_attach_reserved_iova */
function attachReservedIova(idev: IommufdDevice, hwpt: IommufdHwptPaging): number {
  const regions = idev.dev.resvRegions();
  const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, regions, idev.dev);
  if (rc) return rc;
  for (const r of regions) if (r.type === 'sw-msi' && r.start < idev.igroup.swMsiStart) idev.igroup.swMsiStart = r.start;
  if (idev.igroup.deviceList.length === 0) groupSetupMsi(idev.igroup, hwpt);
  return 0;
}

/** iommufd_hwpt_attach_device: the handle (kzalloc), then iommu_attach_group_handle. */
function hwptAttachDevice(hwpt: IommufdHwpt, idev: IommufdDevice): number {
  if (!hwpt.domain) return -EINVAL;
  if (idev.ictx.faults.shouldFail()) return -ENOMEM; // kzalloc(handle)
  return idev.dev.machine.iommuAttachGroup(hwpt.domain, idev.igroup.group);
}

/** iommufd_hw_pagetable_attach, answering for a group the fault left holding a dead attachment. */
function hwPagetableAttach(hwpt: IommufdHwpt, idev: IommufdDevice): number {
  const igroup = idev.igroup;
  const paging = findHwptPaging(hwpt);
  if (idev.ictx.profile !== '6.12') {
    const faults = idev.ictx.faults;
    if (igroup.hwpt === null && faults.shouldFail()) return -ENOMEM; // kzalloc(attach)
    // xa_insert(&attach->device_array, idev->obj.id, ...): an id already in the array is -EBUSY.
    if (igroup.deviceList.some((d) => d.id === idev.id)) return -EBUSY;
    if (igroup.deviceList.length === 0) faults.absorbedStep();
  }
  if (igroup.hwpt !== null && igroup.hwpt !== hwpt) return -EINVAL;
  const unwind = new Unwind();
  if (paging) {
    const rc = attachReservedIova(idev, paging);
    if (rc) return unwind.exit(rc);
    unwind.onError('err_unresv', () => ioptRemoveReservedIova(paging.ioas.iopt, idev.dev));
  }
  if (igroup.deviceList.length === 0) {
    const rc = hwptAttachDevice(hwpt, idev);
    if (rc) return unwind.exit(rc);
    igroup.hwpt = hwpt;
  }
  refcount_inc(hwpt);
  igroup.deviceList.push(idev);
  return unwind.exit(0);
}

// ---- iommufd_hwpt_paging_alloc (immediate attach), with the fault ------------------------

function hwptPagingAllocImmediate(ictx: IommufdCtx, ioas: IommufdIoas, idev: IommufdDevice): Result<IommufdHwptPaging> {
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
  const rc1 = hwPagetableAttach(hwpt, idev);
  if (rc1) return unwind.exit({ errno: rc1 });
  const rc = ioptTableAddDomain(ioas.iopt, hwpt.domain);
  if (rc) {
    // THE FAULT: `goto out_abort;` — out_detach (iommufd_hw_pagetable_detach) is skipped, the group stays attached.
    const domain = hwpt.domain;
    if (idev.ictx.profile === '7.3' && domain.owner.name === 'intel') {
      // intel_iommu_domain_free: WARN_ON(!list_empty(&dmar_domain->devices)) → return; the domain is leaked, still attached.
      ictx.warnings.push(`intel_iommu_domain_free: domain of HWPT ${hwpt.id} still has devices; leaked`);
      hwpt.domain = null;
    }
    return unwind.exit({ errno: rc });
  }
  ioas.hwptList.push(hwpt);
  hwpt.inList = true;
  return unwind.exit({ errno: 0, value: hwpt });
}

// ---- iommufd_device_attach (device.c) ----------------------------------------------------

/** iommufd_device_auto_get_domain in attach mode. */
function autoGetDomain(idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }): number {
  for (const hwpt of [...ioas.hwptList]) {
    if (!hwpt.autoDomain) continue;
    const rc = hwPagetableAttach(hwpt, idev);
    if (rc) {
      if (rc === -EINVAL) continue;
      return rc;
    }
    ptId.value = hwpt.id;
    return 0;
  }
  const r = hwptPagingAllocImmediate(idev.ictx, ioas, idev);
  if (r.errno || !r.value) return r.errno;
  r.value.autoDomain = true;
  ptId.value = r.value.id;
  iommufdObjectFinalize(idev.ictx, r.value);
  return 0;
}

/** iommufd_device_attach → iommufd_device_change_pt(do_attach). */
function deviceAttach(idev: IommufdDevice, ptId: { value: number }): number {
  const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
  if (pt.errno || !pt.value) return pt.errno;
  let rc: number;
  switch (pt.value.type) {
    case 'HWPT_NESTED':
    case 'HWPT_PAGING':
      rc = hwPagetableAttach(pt.value as IommufdHwpt, idev);
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
}

// ---- teardown through the kernel's WARN paths -----------------------------------------

/** iommufd_device_destroy → iommu_device_release_dma_owner, iommufd_put_group → iommufd_group_release. */
function deviceDestroy(idev: IommufdDevice): void {
  const dev = idev.dev;
  const g = dev.group;
  if (g.ownerCnt === 1 && g.domain !== g.blockingDomain && g.domain !== g.defaultDomain) {
    // __iommu_release_dma_ownership: WARN_ON(!xa_empty(&group->pasid_array)) → return; ownership and domain stay.
    idev.ictx.warnings.push(`__iommu_release_dma_ownership: group ${g.id} still has an attach handle; ownership kept`);
  } else {
    dev.machine.releaseDmaOwner(dev);
  }
  const igroup = idev.igroup;
  if (igroup.ref === 1 && (igroup.hwpt !== null || igroup.deviceList.length > 0)) {
    // iommufd_group_release: WARN_ON(igroup->hwpt || !list_empty(&igroup->device_list)) (7.3: pasid_attach); freed anyway.
    idev.ictx.warnings.push(`iommufd_group_release: group ${g.id} released with an attachment recorded`);
    igroup.hwpt = null;
    igroup.deviceList.splice(0);
  }
  iommufdPutGroup(igroup);
  if (!dev.isMock) idev.ictx.file?.put();
}

/** A table walk of a domain freed under its group: nothing is mapped (the reference would read freed table memory). */
function patchTranslate(m: Machine): void {
  patchOwn(m, 'translate', (translate) => (handle, iova, pasid) => {
    const dev = m.device(handle);
    if (dev && pasid === undefined && dev.group.domain.type === 'paging' && dev.group.domain.isFreed) return { mapped: false };
    return translate(handle, iova, pasid);
  });
}

export function createAdapter(profile: Profile): Implementation {
  const mockDomain = mockDomainHandler({ attach: deviceAttach });
  return mutantImplementation('paging-alloc-add-domain-fail-skips-detach', profile, {
    // vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas for a device that is not attached.
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || vdev.iommufdAttached) return original();
      const attach = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const flags = attach.num('flags');
      if (df.profile === '6.12') {
        if (flags) return -EINVAL;
      } else {
        if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
        if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
      }
      const ptId = { value: attach.num('pt_id') };
      const rc = deviceAttach(idev, ptId);
      if (rc) return rc;
      vdev.iommufdAttached = true;
      attach.set('pt_id', ptId.value);
      if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) {
        // out_detach: vfio_iommufd_physical_detach_ioas
        iommufdDeviceDetach(idev);
        vdev.iommufdAttached = false;
        return -EFAULT;
      }
      return 0;
    },
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        return op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? mockDomain(ucmd) : original(ucmd);
      },
    },
    object: (obj) => {
      if (obj.type !== 'DEVICE') return;
      const idev = obj as IommufdDevice;
      patchOwn(idev, 'destroy', () => () => deviceDestroy(idev));
    },
    machine: (m) => patchTranslate(m),
  });
}
