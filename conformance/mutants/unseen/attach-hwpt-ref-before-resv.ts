/**
 * attach-hwpt-ref-before-resv (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_attach).
 *
 * Each device attached to a HWPT holds one users reference on it, taken
 * only once the attachment can no longer fail (6.12):
 *
 *     if (idev->igroup->hwpt != NULL && idev->igroup->hwpt != hwpt) {
 *             rc = -EINVAL;
 *             goto err_unlock;
 *     }
 *
 *     if (hwpt_paging) {
 *             rc = iommufd_device_attach_reserved_iova(idev, hwpt_paging);
 *             if (rc)
 *                     goto err_unlock;
 *     }
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
 * (7.3 has the same order after its pasid_attach / device_array slots:
 * the "old_hwpt && old_hwpt != hwpt" test, attach_resv, the first attach,
 * then refcount_inc and the xa_store of the device.)
 *
 * THE FAULT: the refcount_inc is hoisted to right after the "same HWPT as
 * the group" test — "this device is going to hold the hwpt, take the ref as
 * soon as we know it is the right one" — and none of the error labels
 * below (err_unresv, err_unlock; 7.3 err_release_devid, err_free_attach,
 * err_release_pasid) drops it. Every attach that fails after that test
 * leaves one reference on the HWPT it tried:
 *   - a device whose reserved regions collide with an existing mapping or
 *     reservation of the IOAS (EADDRINUSE, e.g. a VT-d device on an IOAS
 *     that maps the x86 MSI window), or whose region enforcement fails;
 *   - the first device of a group the driver refuses (EINVAL: an enforcing
 *     domain and a device that cannot snoop, a dirty-tracking domain and a
 *     device without it, a 48-bit VT-d domain on the 39-bit unit...) — and
 *     that refusal is swallowed by the automatic-domain search, which
 *     tries every automatic HWPT of the IOAS before making a new one: a
 *     perfectly successful attach by IOAS id leaves a reference on each
 *     incompatible automatic HWPT it passed;
 *   - the attach handle's allocation (ENOMEM).
 * Nothing shows on the failing command. Later: a user HWPT can never be
 * destroyed (IOMMU_DESTROY: EBUSY after every device has left), an
 * automatic HWPT no longer goes away with its last device — it stays in
 * the IOAS, mapped, keeping its pages pinned and charged and its IOAS busy
 * (IOMMU_DESTROY of the IOAS: EBUSY) — and closing the context cannot free
 * either (the release loop finds them referenced and gives up), so the
 * pins and the accounting outlive every fd.
 *
 * Applied as: iommufd_hw_pagetable_attach with THE FAULT, under
 * iommufd_device_attach (VFIO_DEVICE_ATTACH_IOMMUFD_PT of an unattached
 * device, IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS)), the automatic-domain search
 * and the immediate attach of a new automatic HWPT (the shared copies in
 * _attach.ts / _mock_domain.ts). Replace does not use it and is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { attachPtIoctl, deviceAttachWith, hwPagetableAttachWith, hwptPagingAllocAttachedWith } from './_attach.ts';
import { mockDomainHandler, mockDomainOps } from './_mock_domain.ts';

/** iommufd_hw_pagetable_attach with the users reference taken before the steps that can still fail (THE FAULT): no error label below drops it. */
const hwPagetableAttachRefFirst = hwPagetableAttachWith({ takeRef: 'after-group-check' });

export function createAdapter(profile: Profile): Implementation {
  const deviceAttach = deviceAttachWith({ attach: hwPagetableAttachRefFirst, allocAttached: hwptPagingAllocAttachedWith(hwPagetableAttachRefFirst) });
  const testMockDomain = mockDomainHandler({ attach: deviceAttach });
  return mutantImplementation('attach-hwpt-ref-before-resv', profile, {
    vfioIoctl: attachPtIoctl({ attach: deviceAttach }),
    handlers: {
      IOMMU_TEST_CMD: mockDomainOps(testMockDomain),
    },
  });
}
