/**
 * replace-fail-keeps-new-resv (drivers/iommu/iommufd/device.c,
 * iommufd_device_do_replace).
 *
 * A replace first reserves the group's regions in the new HWPT's IOAS, then
 * asks the iommu core to switch the group's domain; when the switch fails the
 * reservations are taken back out (7.3; 6.12 the same without attach_resv):
 *
 *     if (attach_resv) {
 *             rc = iommufd_group_do_replace_reserved_iova(igroup, hwpt_paging);
 *             if (rc)
 *                     goto err_unlock;
 *     }
 *
 *     rc = iommufd_hwpt_replace_device(idev, pasid, hwpt, old_hwpt);
 *     if (rc)
 *             goto err_unresv;
 *     ...
 * err_unresv:
 *     if (attach_resv)
 *             iommufd_group_remove_reserved_iova(igroup, hwpt_paging);
 * err_unlock:
 *     mutex_unlock(&igroup->lock);
 *     return ERR_PTR(rc);
 *
 * THE FAULT: the second test copies the first one's label, `goto err_unlock;`
 * (iommufd_group_do_replace_reserved_iova cleans up after itself, and the
 * author took the other failure to need no more). A replace the driver
 * refuses — a HWPT whose domain belongs to another IOMMU driver, a VT-d domain
 * that snoops or is wider than the unit can do, a mock domain the device's
 * flags rule out (-EINVAL); the attach handle's allocation (-ENOMEM) — answers
 * the same errno and leaves the group where it was, as it must; but the
 * group's reserved regions stay reserved in the target IOAS, owned by devices
 * that are not attached there.
 *
 * Observable, in later commands on the target IOAS: maps and copies over the
 * devices' regions (the x86 MSI window 0xfee00000..0xfeefffff, AMD's HT hole,
 * the SMMU software-MSI window, device-specific ranges) fail (kernel: they
 * succeed while nothing attached reserves them); IOMMU_IOAS_IOVA_RANGES
 * reports holes; IOMMU_IOAS_ALLOW_IOVAS over them is EADDRINUSE. The
 * reservations outlive the devices: no detach removes them (a detach removes
 * a device's regions from the IOAS it is attached to), only an attach of that
 * device to the target IOAS followed by its detach. (In the same-IOAS case the
 * kernel's err_unresv drops the group's regions from the IOAS it stays
 * attached to; the fault keeps them, and answers there differ as well.)
 *
 * Applied as: every replace (VFIO_DEVICE_ATTACH_IOMMUFD_PT of an attached
 * device, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) goes through a copy of
 * iommufd_device_replace (device.c) with the faulty label.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { deviceReplaceWith, mockDomainReplaceWith, replaceAttachIoctl } from './_replace.ts';

/** iommufd_device_replace whose do_replace goes to err_unlock, not err_unresv, when iommufd_hwpt_replace_device fails (THE FAULT). */
const deviceReplace = deviceReplaceWith({ unresvOnFailedReplace: false });

export function createAdapter(profile: Profile): Implementation {
  const mockReplace = mockDomainReplaceWith(deviceReplace);
  return mutantImplementation('replace-fail-keeps-new-resv', profile, {
    vfioIoctl: replaceAttachIoctl(deviceReplace),
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE ? mockReplace(ucmd) : original(ucmd)),
    },
  });
}
