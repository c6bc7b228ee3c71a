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
 * an unattached device, IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS)) goes through _attach.ts's copy
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
import { EBUSY, EINVAL, ENOMEM } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdHwpt, IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { attachPtIoctl, attachReservedIova, deviceAttachWith, hwptAttachDevice, hwptPagingAllocAttachedWith } from './_attach.ts';
import { mockDomainHandler, mockDomainOps } from './_mock_domain.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { deviceDestroy, patchTranslate } from './_leaked_attach.ts';

// ---- iommufd_hw_pagetable_attach and its helpers (device.c) ----------------------------

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
    const rc = attachReservedIova(idev, paging, igroup.deviceList.length === 0);
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

// ---- iommufd_device_attach, its immediate-attach allocation with the fault ---------------

/**
 * The out_detach rung of iommufd_hwpt_paging_alloc with THE FAULT: `goto out_abort;`
 * skips it (iommufd_hw_pagetable_detach), so the group stays attached. 7.3 VT-d's
 * intel_iommu_domain_free then WARNs on the domain's devices and returns: the domain
 * is leaked, still attached.
 */
function skipDetach(hwpt: IommufdHwptPaging, idev: IommufdDevice): void {
  const domain = hwpt.domain;
  if (idev.ictx.profile === '7.3' && domain?.owner.name === 'intel') {
    idev.ictx.warnings.push(`intel_iommu_domain_free: domain of HWPT ${hwpt.id} still has devices; leaked`);
    hwpt.domain = null;
  }
}

const deviceAttach = deviceAttachWith({ attach: hwPagetableAttach, allocAttached: hwptPagingAllocAttachedWith(hwPagetableAttach, skipDetach) });

export function createAdapter(profile: Profile): Implementation {
  const mockDomain = mockDomainHandler({ attach: deviceAttach });
  return mutantImplementation('paging-alloc-add-domain-fail-skips-detach', profile, {
    // vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas for a device that is not attached.
    vfioIoctl: attachPtIoctl({ attach: deviceAttach }),
    handlers: {
      IOMMU_TEST_CMD: mockDomainOps(mockDomain),
    },
    object: (obj) => {
      if (obj.type !== 'DEVICE') return;
      const idev = obj as IommufdDevice;
      patchOwn(idev, 'destroy', () => () => deviceDestroy(idev));
    },
    machine: (m) => patchTranslate(m),
  });
}
