/**
 * attach-hwpt-ref-group-once (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_attach; 6.12 and 7.3, each in its own form).
 *
 * Every device that attaches takes a users reference on the HWPT, the one
 * iommufd_device_detach() puts back (iommufd_hw_pagetable_put) and
 * iommufd_device_do_replace() moves per device ("Move the refcounts held by
 * the device_list to the new hwpt"). Only the hardware attach is made once,
 * for the group's first device. 6.12:
 *
 *     if (list_empty(&idev->igroup->device_list)) {
 *             rc = iommufd_hwpt_attach_device(hwpt, idev, pasid);
 *             if (rc)
 *                     goto err_unresv;
 *             idev->igroup->hwpt = hwpt;
 *     }
 *     refcount_inc(&hwpt->obj.users);
 *     list_add_tail(&idev->group_item, &idev->igroup->device_list);
 *
 * (7.3: `if (iommufd_group_first_attach(igroup, pasid)) { ... attach->hwpt =
 * hwpt; xa_store(...); } refcount_inc(&hwpt->obj.users); xa_store(&attach->
 * device_array, idev->obj.id, idev, ...)`.)
 *
 * THE FAULT: the reference is taken inside the first-attach block, as if it
 * were the group's attachment (not each device's) that holds the HWPT:
 *
 *     if (list_empty(&idev->igroup->device_list)) {
 *             rc = iommufd_hwpt_attach_device(hwpt, idev, pasid);
 *             if (rc)
 *                     goto err_unresv;
 *             idev->igroup->hwpt = hwpt;
 *             refcount_inc(&hwpt->obj.users);
 *     }
 *     list_add_tail(&idev->group_item, &idev->igroup->device_list);
 *
 * Detach still puts one reference per device, and replace still moves one
 * per attached device. With one device per group nothing changes. With two
 * devices of one iommu_group attached to a HWPT, the HWPT holds one
 * reference for both:
 *   - detaching (or closing) either device drops the HWPT's only attach
 *     reference while the other is still attached: an automatic HWPT is
 *     destroyed on the spot under the remaining device (its DMA is blocked,
 *     the IOAS it held can be destroyed); a user HWPT can be destroyed by
 *     IOMMU_DESTROY while a device is attached (the kernel: EBUSY);
 *   - the second detach then puts a reference the HWPT never had (refcount_t
 *     underflow: WARN, the count saturates and the object leaks); a replace
 *     of the group moves two references off a HWPT that holds one.
 *
 * Applied as: the attach path of VFIO_DEVICE_ATTACH_IOMMUFD_PT (a device not
 * yet attached) and of IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) runs _attach.ts's
 * copy of iommufd_device_attach → iommufd_device_change_pt →
 * iommufd_device_auto_get_domain (attach mode) → iommufd_hwpt_paging_alloc
 * (immediate attach) with this iommufd_hw_pagetable_attach. HWPT objects count
 * their users as the kernel's refcount_t (a refcount_dec() reaching zero WARNs
 * and saturates: the object leaks) where the reference's model throws.
 * Replace, detach and everything else are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { kernelRefcount } from './_kernel_refcount.ts';
import { attachPtIoctl, deviceAttachWith, hwPagetableAttachWith, hwptPagingAllocAttachedWith } from './_attach.ts';
import { mockDomainHandler, mockDomainOps } from './_mock_domain.ts';

/** iommufd_hw_pagetable_attach with THE FAULT: the HWPT's users reference is taken for the group's first device only. */
const hwPagetableAttach = hwPagetableAttachWith({ takeRef: 'first-device' });

export function createAdapter(profile: Profile): Implementation {
  const deviceAttach = deviceAttachWith({ attach: hwPagetableAttach, allocAttached: hwptPagingAllocAttachedWith(hwPagetableAttach) });
  const testMockDomain = mockDomainHandler({ attach: deviceAttach });
  return mutantImplementation('attach-hwpt-ref-group-once', profile, {
    handlers: {
      IOMMU_TEST_CMD: mockDomainOps(testMockDomain),
    },
    // vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas, attach branch (the device is not attached yet).
    vfioIoctl: attachPtIoctl({ attach: deviceAttach }),
    object: (obj) => {
      if (obj.type === 'HWPT_PAGING') kernelRefcount(obj);
    },
  });
}
