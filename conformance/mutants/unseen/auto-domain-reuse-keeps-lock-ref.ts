/**
 * auto-domain-reuse-keeps-lock-ref (drivers/iommu/iommufd/device.c,
 * iommufd_device_auto_get_domain).
 *
 * When a device is attached (or replaced) by IOAS id, the kernel (6.12 and
 * 7.3) tries each automatic HWPT of the IOAS under a temporary reference and
 * drops that reference on every way out of the loop:
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *             if (!hwpt_paging->auto_domain)
 *                     continue;
 *             hwpt = &hwpt_paging->common;
 *             if (!iommufd_lock_obj(&hwpt->obj))
 *                     continue;
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt)) {
 *                     iommufd_put_object(idev->ictx, &hwpt->obj);
 *                     if (PTR_ERR(destroy_hwpt) == -EINVAL)
 *                             continue;
 *                     goto out_unlock;
 *             }
 *             *pt_id = hwpt->obj.id;
 *             iommufd_put_object(idev->ictx, &hwpt->obj);
 *             goto out_unlock;
 *     }
 *
 * THE FAULT: the success branch returns without the put:
 *             *pt_id = hwpt->obj.id;
 *             goto out_unlock;
 * (only the error branch got its put — "the attach now holds its own
 * reference, the lock is not needed any more"). Whenever a device joins an
 * automatic HWPT that already exists — a second device (of another group, or
 * a sibling of the same group) attached to the same IOAS, or a replace by
 * IOAS id that lands on an existing automatic domain, including the group's
 * current one — that HWPT keeps one extra users reference.
 *
 * The attach itself answers exactly as the kernel's. Observable later,
 * through the other objects: when the last device detaches, the automatic
 * HWPT is no longer destroyed (iommufd_object_put_and_try_destroy finds
 * users > 1): its id stays live (IOMMU_DESTROY of it: EBUSY, the kernel:
 * ENOENT), its domain stays in the IOAS (which cannot be destroyed: EBUSY),
 * a later attach by IOAS id reuses the stale domain instead of a new one,
 * and on close the context cannot free it nor the IOAS under it, so their
 * pinned pages stay pinned and charged.
 *
 * Applied as: the reference's iommufd_device_attach / iommufd_device_replace
 * behind VFIO_DEVICE_ATTACH_IOMMUFD_PT, IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS)
 * and IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE; when pt_id named an IOAS and the
 * HWPT the device ends up in is an automatic HWPT that was already on that
 * IOAS's hwpt_list before the call (the search loop's success), one users
 * reference is taken on it.
 */
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceAttach, iommufdDeviceReplace } from '../../../impl/iommufd/device.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { attachPtIoctl, type DeviceChangePt } from './_attach.ts';
import { mockDomainHandler } from './_mock_domain.ts';
import { mockDomainReplaceWith } from './_replace.ts';

/** iommufd_device_attach / _replace whose automatic-domain search keeps the lock reference of the HWPT it reuses. */
function keepingLockRef(change: DeviceChangePt): DeviceChangePt {
  return (idev: IommufdDevice, ptId: { value: number }) => {
    const pt = idev.ictx.objects.load(ptId.value);
    const autoBefore = pt?.type === 'IOAS' ? (pt as IommufdIoas).hwptList.filter((h) => h.autoDomain) : [];
    const rc = change(idev, ptId);
    if (rc === 0) {
      // THE FAULT: the loop's success branch skips iommufd_put_object(&hwpt->obj).
      const reused = autoBefore.find((h) => h.id === ptId.value && idev.ictx.objects.load(h.id) === h);
      if (reused) refcount_inc(reused);
    }
    return rc;
  };
}

export function createAdapter(profile: Profile): Implementation {
  const deviceAttach = keepingLockRef(iommufdDeviceAttach);
  const deviceReplace = keepingLockRef(iommufdDeviceReplace);

  /** iommufd_test_mock_domain over that attach. */
  const testMockDomain = mockDomainHandler({ attach: deviceAttach });

  /** iommufd_test_mock_domain_replace over that replace. */
  const testMockDomainReplace = mockDomainReplaceWith(deviceReplace);

  return mutantImplementation('auto-domain-reuse-keeps-lock-ref', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) return testMockDomain(ucmd);
        if (op === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return testMockDomainReplace(ucmd);
        return original(ucmd);
      },
    },
    vfioIoctl: attachPtIoctl({ attach: deviceAttach, replace: deviceReplace }),
  });
}
