/**
 * replace-unresv-new-not-old (drivers/iommu/iommufd/device.c,
 * iommufd_device_do_replace).
 *
 * A replace onto a HWPT of another IOAS moves the group's reserved regions:
 * iommufd_group_do_replace_reserved_iova() first reserves every attached
 * device's regions in the new IOAS, and once iommufd_hwpt_replace_device()
 * succeeded the old IOAS lets them go (7.3; 6.12 is the same without pasid):
 *
 *     old_hwpt_paging = find_hwpt_paging(old_hwpt);
 *     if (old_hwpt_paging && pasid == IOMMU_NO_PASID &&
 *         (!hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas))
 *             iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging);
 *
 * THE FAULT: the removal names the wrong one of the two look-alike locals,
 *
 *             iommufd_group_remove_reserved_iova(igroup, hwpt_paging);
 *
 * (the condition above, which reads both, is right). A replace within one
 * IOAS does not get here, and a replace across IOASes answers success exactly
 * as the kernel does; what changes is which IOAS holds the group's
 * reservations afterwards: the regions just reserved in the new IOAS are
 * dropped again, and the old IOAS keeps them.
 *
 * Observable, in later commands on the two IOASes:
 *   - the new IOAS, to which the group is now attached, no longer reserves the
 *     devices' regions (the x86 MSI window 0xfee00000..0xfeefffff, AMD's HT
 *     hole, the SMMU software-MSI window, device-specific ranges):
 *     IOMMU_IOAS_MAP / COPY there succeed (kernel: EADDRINUSE) and the device
 *     DMAs through a mapping over its interrupt window;
 *     IOMMU_IOAS_IOVA_RANGES shows no hole;
 *   - the old IOAS, to which nothing is attached any more, keeps the holes:
 *     maps there fail EADDRINUSE, IOVA_RANGES still reports them; a later
 *     detach cannot remove them from either (they are keyed by the device,
 *     and the detach looks in the new IOAS only).
 *
 * Applied as: every replace (VFIO_DEVICE_ATTACH_IOMMUFD_PT of an attached
 * device, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) goes through _replace.ts's copy
 * of iommufd_device_replace with the faulty removal.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdGroupRemoveReservedIova } from '../../../impl/iommufd/hw_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { deviceReplaceWith, mockDomainReplaceWith, replaceAttachIoctl } from './_replace.ts';

/** The new HWPT of the replace in progress (hwpt_paging), as the condition reads it. */
let newPaging: IommufdHwptPaging | null = null;

const deviceReplace = deviceReplaceWith({
  leftOldIoas: (paging, oldPaging) => {
    newPaging = paging;
    return !paging || paging.ioas !== oldPaging.ioas;
  },
  // THE FAULT: hwpt_paging where old_hwpt_paging belongs.
  removeOldReservedIova: (idev, oldPaging) => iommufdGroupRemoveReservedIova(idev.igroup, newPaging ?? oldPaging),
});

export function createAdapter(profile: Profile): Implementation {
  const mockReplace = mockDomainReplaceWith(deviceReplace);
  return mutantImplementation('replace-unresv-new-not-old', profile, {
    vfioIoctl: replaceAttachIoctl(deviceReplace),
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE ? mockReplace(ucmd) : original(ucmd)),
    },
  });
}
