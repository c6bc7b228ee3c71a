/**
 * hwpt-alloc-bad-pt-keeps-idev-ref (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_alloc).
 *
 * IOMMU_HWPT_ALLOC looks its device up first (iommufd_get_device: a
 * temporary users + shortterm_users reference), then the page table it is
 * to hang off; every exit drops the device again (6.12 and 7.3):
 *
 *     idev = iommufd_get_device(ucmd, cmd->dev_id);
 *     if (IS_ERR(idev))
 *             return PTR_ERR(idev);
 *
 *     pt_obj = iommufd_get_object(ucmd->ictx, cmd->pt_id, IOMMUFD_OBJ_ANY);
 *     if (IS_ERR(pt_obj)) {
 *             rc = -EINVAL;
 *             goto out_put_idev;
 *     }
 *     ...
 * out_put_pt:
 *     iommufd_put_object(ucmd->ictx, pt_obj);
 * out_put_idev:
 *     iommufd_put_object(ucmd->ictx, &idev->obj);
 *     return rc;
 *
 * THE FAULT: the pt_id lookup failure is "simplified" into a plain return
 * (its errno is rewritten to EINVAL anyway, so it looked like the early
 * returns above it):
 *
 *     if (IS_ERR(pt_obj))
 *             return -EINVAL;
 *
 * An IOMMU_HWPT_ALLOC whose pt_id names nothing (an id never used, one
 * already destroyed, a still-reserved one — or the lookup's own
 * iommufd_should_fail) answers EINVAL exactly as before, but the device it
 * named keeps the lookup's reference. Nothing shows until that device is
 * unbound: iommufd_device_unbind's iommufd_object_destroy_user waits for
 * the leaked shortterm reference, times out and WARNs, and the device
 * object stays. Closing its VFIO file then detaches it but leaves it bound:
 * its iommu_group stays owned by the context (another context's bind of
 * any device of the group: EPERM; the same device cannot be bound again),
 * IOMMU_DESTROY of its id stays EBUSY, and the context — which a VFIO
 * device's iommufd_device keeps referenced — is never released after its
 * fd is closed, with every IOAS, HWPT and pinned, charged page it holds.
 * For a selftest mock device the IOMMU_TEST_OP_MOCK_DOMAIN object's
 * destroy goes the same way and the context's release stops at the device.
 *
 * Applied as: IOMMU_HWPT_ALLOC is the shared copy of iommufd_hwpt_alloc
 * (_hwpt_alloc.ts) with THE FAULT as its pt_id step (the leaked lookup is one more users
 * reference on the device); the unbind of a device carrying such a
 * reference (the VFIO file's release, the selftest object's destroy)
 * follows the kernel's WARN path instead of the reference's assertion.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { leakedDeviceHooks } from './_vfio_release.ts';
import { hwptAllocWith } from './_hwpt_alloc.ts';

/** Lookup references the faulty IOMMU_HWPT_ALLOC left on each device. */
const leaked = new WeakMap<IommufdDevice, number>();

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-bad-pt-keeps-idev-ref', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: hwptAllocWith({
        // THE FAULT: return without iommufd_put_object(ucmd->ictx, &idev->obj).
        badPt: (idev) => {
          refcount_inc(idev);
          leaked.set(idev, (leaked.get(idev) ?? 0) + 1);
          return -EINVAL;
        },
      }),
    },
    ...leakedDeviceHooks((idev) => (leaked.get(idev) ?? 0) > 0),
  });
}
