/**
 * replace-takes-idev-ref (drivers/iommu/iommufd/device.c
 * iommufd_device_replace).
 *
 * An attachment holds one users reference on the iommufd_device, taken by
 * iommufd_device_attach and dropped by iommufd_device_detach ("Pairs with
 * iommufd_device_detach() - catches caller bugs attempting to destroy a
 * device with an attachment"). A replace moves an existing attachment and
 * takes nothing:
 *
 *     int iommufd_device_replace(struct iommufd_device *idev, u32 *pt_id)
 *     {
 *             return iommufd_device_change_pt(idev, IOMMU_NO_PASID, pt_id,
 *                                             &iommufd_device_do_replace);
 *     }
 *
 * The fault gives iommufd_device_replace the same tail as
 * iommufd_device_attach (a "make attach and replace symmetric" cleanup):
 *
 *     rc = iommufd_device_change_pt(..., &iommufd_device_do_replace);
 *     if (rc)
 *             return rc;
 *     refcount_inc(&idev->obj.users);
 *     return 0;
 *
 * Every successful replace — VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached
 * device, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, even a no-op replace onto the
 * HWPT the device already uses — leaves one reference no detach drops.
 * Nothing shows until the device is unbound: iommufd_device_unbind's
 * iommufd_object_destroy_user then finds the extra reference, WARNs and
 * gives up, so the device object is never destroyed. Its
 * iommu_device_release_dma_owner never runs (the group stays owned, on the
 * blocking domain: another context binding a device of the group gets
 * EPERM), and for a VFIO device its iommufd_ctx reference is never dropped:
 * the context outlives every fd, with its IOASes, their mappings, every HWPT
 * the user allocated and the pages those HWPTs keep pinned and charged.
 *
 * Applied as: the replace branch of VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * (_replace.ts) and IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE call the reference's
 * iommufd_device_replace and then take the extra reference; the unbind of a
 * device carrying such references (the VFIO file's release, the selftest
 * object's destroy) follows the kernel's WARN path instead of the
 * reference's assertion.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { iommufdDeviceReplace } from '../../../impl/iommufd/device.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { leakedDeviceHooks } from './_vfio_release.ts';
import { mutantImplementation } from '../harness.ts';
import { mockDomainReplaceWith, replaceAttachIoctl } from './_replace.ts';

/** References taken by the faulty replace, per device. */
const extraRefs = new WeakMap<IommufdDevice, number>();

/** iommufd_device_replace with the extra reference (THE FAULT). */
function deviceReplaceTakingRef(idev: IommufdDevice, ptId: { value: number }): number {
  const rc = iommufdDeviceReplace(idev, ptId);
  if (rc) return rc;
  refcount_inc(idev);
  extraRefs.set(idev, (extraRefs.get(idev) ?? 0) + 1);
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('replace-takes-idev-ref', profile, {
    vfioIoctl: replaceAttachIoctl(deviceReplaceTakingRef),
    handlers: {
      // iommufd_test_mock_domain_replace over the faulty iommufd_device_replace
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return original(ucmd);
        return mockDomainReplaceWith(deviceReplaceTakingRef)(ucmd);
      },
    },
    ...leakedDeviceHooks((idev) => (extraRefs.get(idev) ?? 0) > 0),
  });
}
