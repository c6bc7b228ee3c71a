/**
 * immediate-attach-fail-goto-detach (drivers/iommu/iommufd/hw_pagetable.c,
 * iommufd_hwpt_paging_alloc in immediate-attach mode; 7.3).
 *
 * Attaching a device by IOAS id when no automatic HWPT of that IOAS takes it
 * (VFIO_DEVICE_ATTACH_IOMMUFD_PT of an unattached device →
 * iommufd_device_auto_get_domain) allocates a new HWPT and attaches the device
 * inside the allocation. The kernel's ladder (7.3):
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
 *     list_add_tail(&hwpt_paging->hwpt_item, &ioas->hwpt_list);
 *     return hwpt_paging;
 *
 * out_detach:
 *     if (immediate_attach)
 *             iommufd_hw_pagetable_detach(idev, pasid);
 * out_abort:
 *     iommufd_object_abort_and_destroy(ictx, &hwpt->obj);
 *
 * THE FAULT: the failed attach jumps one label too high, `goto out_detach;`
 * (an "undo everything we did" reflex: the attach is what just ran). For the
 * group's first device nothing changes — 7.3's iommufd_hw_pagetable_detach
 * finds no IOMMU_NO_PASID attach and returns NULL — so every single-device
 * test passes. But when a sibling of the device's iommu group is already
 * attached to another HWPT (H1), the attach fails with -EINVAL (the group is
 * on H1) and iommufd_hw_pagetable_detach then works on the *sibling's*
 * attachment: attach->hwpt is H1, the xa_erase of this device's id is a no-op,
 * the array is not empty so the group stays attached, and it ends with
 *
 *     iommufd_hw_pagetable_put(idev->ictx, hwpt);      // hwpt == H1
 *
 * dropping a reference on H1 that this device never took.
 *
 * Observable (two devices of one group, several commands): the failing
 * ATTACH answers EINVAL as the kernel does, but
 *   - an automatic H1 with one attached device is destroyed on the spot
 *     (put_and_try_destroy): its domain is unmapped and freed under the still
 *     attached sibling, whose DMA stops reaching the IOAS mappings, the
 *     HWPT id disappears (ATTACH by that id: ENOENT), the IOAS loses a domain
 *     (its pages are unpinned while a device is attached);
 *   - a user H1 can then be IOMMU_DESTROYed (kernel: EBUSY) while the sibling
 *     is attached to it;
 *   - the sibling's later detach underflows H1's refcount (refcount_t WARNs
 *     and saturates).
 * 6.12 has the same ladder, but there iommufd_hw_pagetable_detach list_del()s
 * the unlinked group_item and oopses: the fault is applied on 7.3 only.
 *
 * Applied as: the first attach of a device (VFIO ATTACH of an unattached
 * device, IOMMU_TEST_OP_MOCK_DOMAIN) goes through _attach.ts's copy of
 * iommufd_device_attach, with a copy of the immediate-attach allocation whose
 * failed attach runs 7.3's iommufd_hw_pagetable_detach before the abort. HWPT
 * refcounts saturate on underflow as refcount_t does; a freed domain
 * translates nothing; a destroyed HWPT's later puts touch no other object (the
 * kernel's use-after-free would decrement whatever object now has that id).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging, iommufdHwPagetableAttach, iommufdHwPagetablePut } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { attachPtIoctl, deviceAttachWith, hwptPagingAllocAttachedWith } from './_attach.ts';
import { kernelRefcount } from './_kernel_refcount.ts';
import { patchTranslate } from './_leaked_attach.ts';
import { mockDomainHandler, mockDomainOps } from './_mock_domain.ts';

/**
 * 7.3 iommufd_hw_pagetable_detach(idev, IOMMU_NO_PASID), including the
 * iommufd_hw_pagetable_put it ends with: works on the group's attachment,
 * whether or not idev is part of it.
 */
function hwPagetableDetach73(idev: IommufdDevice): void {
  const igroup = idev.igroup;
  const hwpt = igroup.hwpt; // attach = xa_load(&igroup->pasid_attach, pasid)
  if (!hwpt) return; // !attach: return NULL
  const paging = findHwptPaging(hwpt);
  const i = igroup.deviceList.indexOf(idev);
  if (i >= 0) igroup.deviceList.splice(i, 1); // xa_erase(&attach->device_array, idev->obj.id)
  if (igroup.deviceList.length === 0) {
    idev.dev.machine.iommuDetachGroup(igroup.group);
    igroup.hwpt = null;
  }
  if (paging) ioptRemoveReservedIova(paging.ioas.iopt, idev.dev);
  iommufdHwPagetablePut(idev.ictx, hwpt);
}

/** iommufd_hwpt_paging_alloc(flags 0, immediate_attach) with THE FAULT: out_detach is on the ladder before the attach it undoes, so a failed attach goes to it. */
const hwptPagingAllocAttached = hwptPagingAllocAttachedWith(iommufdHwPagetableAttach, (_hwpt, idev) => hwPagetableDetach73(idev), { outDetachFirst: true });

const deviceAttach = deviceAttachWith({ attach: iommufdHwPagetableAttach, allocAttached: hwptPagingAllocAttached });

export function createAdapter(profile: Profile): Implementation {
  const mockDomain = mockDomainHandler({ attach: deviceAttach });
  return mutantImplementation('immediate-attach-fail-goto-detach', profile, {
    vfioIoctl: profile === '7.3' ? attachPtIoctl({ attach: deviceAttach }) : undefined,
    handlers:
      profile === '7.3'
        ? {
            IOMMU_TEST_CMD: mockDomainOps(mockDomain),
          }
        : undefined,
    object: (obj, ctx) => {
      if (obj.type !== 'HWPT_PAGING') return;
      kernelRefcount(obj);
      // Once destroyed, a stale put of this HWPT finds no object under its id.
      patchOwn(obj, 'destroy', (destroy) => () => {
        destroy();
        if (ctx.objects.load(obj.id) !== obj) obj.id = 0;
      });
    },
    machine: (m) => patchTranslate(m),
  });
}
