/**
 * R20-C4 — auto-domain-search-stops-at-incompatible (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain; 6.12 and 7.3 alike).
 *
 * Attaching (or replacing) a device by IOAS id walks the IOAS's automatic HWPTs
 * in creation order and uses the first one that accepts the device; a HWPT that
 * refuses it with -EINVAL ("incompatible") is skipped, and only when none
 * accepts is a new automatic HWPT allocated. "There is no differentiation when
 * domains are allocated, so any domain that is willing to attach to the device
 * is interchangeable with any other":
 *
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *             if (!hwpt_paging->auto_domain)
 *                     continue;
 *             ...
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt)) {
 *                     iommufd_put_object(idev->ictx, &hwpt->obj);
 *                     if (PTR_ERR(destroy_hwpt) == -EINVAL)
 *                             continue;
 *                     goto out_unlock;
 *             }
 *             *pt_id = hwpt->obj.id;
 *             ...
 *             goto out_unlock;
 *     }
 *     hwpt_paging = iommufd_hwpt_paging_alloc(...);
 *
 * THE FAULT: one word — the incompatible case leaves the loop instead of going
 * on to the next entry:
 *
 *                     if (PTR_ERR(destroy_hwpt) == -EINVAL)
 *                             break;
 *
 * so the first automatic HWPT that refuses the device ends the search, and a
 * new automatic HWPT is allocated even when a later one would take it.
 *
 * Nothing shows while an IOAS has at most one automatic HWPT, nor for devices
 * that the first one accepts: the attach succeeds, DMA reaches exactly the
 * IOAS. It takes three objects over several commands: an IOAS whose first
 * automatic HWPT was made for one kind of device (a unit with snoop control, a
 * coherent SMMU master, the mock IOMMU, another driver), a second automatic
 * HWPT made for a device of another kind, and then a third device of that
 * second kind attached by the IOAS id: it gets a HWPT of its own — a third
 * iommu_domain holding a full copy of the IOAS's mappings — where the kernel
 * answers the second HWPT's id. Every further such device adds one more
 * domain: each one is a separate page table filled from the IOAS on
 * creation, walked on every IOAS_MAP / UNMAP and invalidated separately
 * (memory and map/unmap cost grow with the number of devices instead of the
 * number of device kinds), devices that should share a HWPT (and a VMM
 * relying on the returned pt_id to see that they do) are split, and
 * VFIO_CHECK_EXTENSION / GET_INFO answers over the compat IOAS's HWPT list
 * count domains that should not exist. The same holds for a replace by IOAS
 * id.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT (attach and replace) and the
 * selftest's IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) / _MOCK_DOMAIN_REPLACE go
 * through _auto_domain.ts's copy of iommufd_device_attach / _replace →
 * iommufd_device_change_pt → iommufd_device_auto_get_domain, its search
 * ending at the first incompatible HWPT; every other command is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { autoDomainMutant } from './_auto_domain.ts';

export function createAdapter(profile: Profile): Implementation {
  return autoDomainMutant('auto-domain-search-stops-at-incompatible', profile, { stopAtIncompatible: true });
}
