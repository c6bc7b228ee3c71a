/**
 * R19-C4 — auto-domain-incompat-emediumtype (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain; 6.12 and 7.3 alike).
 *
 * Attaching a device by IOAS id (VFIO_DEVICE_ATTACH_IOMMUFD_PT with an IOAS
 * pt_id, the selftest's MOCK_DOMAIN, and the replace forms of both) walks the
 * IOAS's automatic HWPTs and takes the first one the device can use. A HWPT
 * that cannot take the device is skipped; the iommu core and every driver
 * answer "this domain is incompatible with this device" with -EINVAL
 * (include/linux/iommu.h: attach_dev "EINVAL: device and domain are
 * incompatible"), and iommufd_hw_pagetable_attach answers -EINVAL too when the
 * device's group already sits on another HWPT. Only other errors end the walk:
 *
 *     destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *     if (IS_ERR(destroy_hwpt)) {
 *             iommufd_put_object(idev->ictx, &hwpt->obj);
 *             /*
 *              * -EINVAL means the domain is incompatible with the
 *              * device. Other error codes should propagate to
 *              * userspace as failure. Success means the domain is
 *              * attached.
 *              *\/
 *             if (PTR_ERR(destroy_hwpt) == -EINVAL)
 *                     continue;
 *             goto out_unlock;
 *     }
 *
 * THE FAULT: the test keeps the errno of the older contract, the one VFIO
 * type1's domain reuse was written against before "iommu: Use EINVAL for
 * incompatible device/domain in ->attach_dev" (v6.3):
 *
 *             if (PTR_ERR(destroy_hwpt) == -EMEDIUMTYPE)
 *                     continue;
 *
 * No driver returns -EMEDIUMTYPE any more, so the first automatic HWPT that
 * refuses the device ends the search: the -EINVAL goes back to userspace and
 * no new automatic HWPT is ever made for it.
 *
 * The attach that created the first automatic HWPT, and every device that can
 * share it, are unaffected; the bug shows only with two objects, over several
 * commands: once an IOAS holds an automatic HWPT made for one device, a device
 * that cannot use that domain can no longer be attached to the IOAS by its id
 * (EINVAL where the kernel makes it its own automatic HWPT and answers its
 * id). Typical cases: devices behind two VT-d units of which one has no snoop
 * control or a narrower address width, a device of another IOMMU driver, a
 * device whose group is already attached elsewhere tried first against a
 * foreign HWPT, or a coherency-enforcing domain made for a capable device and
 * a device that cannot enforce. The same holds for a replace onto the IOAS
 * (the device stays where it was). A VMM that puts all its assigned devices in
 * one IOAS — QEMU's iommufd backend does — cannot start the second one.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT (attach and replace) and the
 * selftest's IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) / _MOCK_DOMAIN_REPLACE go
 * through _auto_domain.ts's iommufd_device_attach / iommufd_device_replace →
 * iommufd_device_change_pt → iommufd_device_auto_get_domain with the faulty
 * test (the mock device op is _mock_domain.ts's over that attach); every other
 * command is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ERRNO } from '../../../spec/uapi/errno.ts';
import { autoDomainMutant } from './_auto_domain.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: only -EMEDIUMTYPE (include/uapi/asm-generic/errno.h, the pre-6.3 "incompatible
  // domain") sends the search on; the drivers' -EINVAL ends it.
  return autoDomainMutant('auto-domain-incompat-emediumtype', profile, { incompatible: -ERRNO.EMEDIUMTYPE });
}
