/**
 * auto-domain-einval-skips-put (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain).
 *
 * Attaching (or replacing) a device with pt_id naming an IOAS walks the
 * IOAS's automatic HWPTs, holding each one with iommufd_lock_obj() (a users
 * and a shortterm_users reference) while it tries it; EINVAL means
 * "incompatible with this device, try the next one":
 *     hwpt = &hwpt_paging->common;
 *     if (!iommufd_lock_obj(&hwpt->obj))
 *             continue;
 *     destroy_hwpt = (*do_attach)(idev, hwpt);
 *     if (IS_ERR(destroy_hwpt)) {
 *             iommufd_put_object(idev->ictx, &hwpt->obj);
 *             if (PTR_ERR(destroy_hwpt) == -EINVAL)
 *                     continue;
 *             goto out_unlock;
 *     }
 *     *pt_id = hwpt->obj.id;
 *     iommufd_put_object(idev->ictx, &hwpt->obj);
 *     goto out_unlock;
 * The fault tests for -EINVAL before dropping the lock reference (the
 * `continue` moved above iommufd_put_object(), the ordering the original
 * review of this loop went back and forth on): every automatic HWPT that
 * turns a device away keeps one users reference for good.
 *
 * Consequence: an automatic HWPT that some other device found incompatible
 * (another IOMMU unit or driver, a different address width or coherency, a
 * group already attached elsewhere) can never be freed: it no longer
 * destroys itself when its last device detaches, IOMMU_DESTROY of it — and
 * of its IOAS, which it holds — fails with EBUSY forever, its domain keeps
 * every page of the IOAS pinned and charged, and closing the iommufd leaves
 * it behind (iommufd_fops_release's WARN_ON(!destroyed)): the pinned memory
 * and the RLIMIT_MEMLOCK / locked_vm charge leak until reboot.
 *
 * Applied on both users of iommufd_device_attach / _replace: the VFIO cdev's
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT (vfio_df_ioctl_attach_pt →
 * vfio_iommufd_physical_attach_ioas) and the selftest's
 * IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) / _MOCK_DOMAIN_REPLACE, each a copy of the
 * reference's whose iommufd_device_change_pt → iommufd_device_auto_get_domain
 * is the faulty one. (The reference does not model iommufd_lock_obj's
 * short-term reference on the paths that drop it; the leaked one is a users
 * reference.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { autoDomainMutant } from './_auto_domain.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: `continue` on EINVAL before iommufd_put_object(): the lock reference stays.
  return autoDomainMutant('auto-domain-einval-skips-put', profile, { keepRefOnEinval: true });
}
