/**
 * replace-resv-enforces-caller-only (drivers/iommu/iommufd/device.c
 * iommufd_group_do_replace_reserved_iova, called by iommufd_device_do_replace).
 *
 * When a group moves to a HWPT of another IOAS (VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * on an attached device = iommufd_device_replace), every device of the group
 * that is attached must have its reserved regions (its own IOMMU_RESV_RESERVED
 * windows, the MSI window, ...) reserved in the new IOAS before the domain
 * switches, because the whole group starts translating through it:
 *
 *     list_for_each_entry(cur, &igroup->device_list, group_item) {
 *             rc = iopt_table_enforce_dev_resv_regions(
 *                     &hwpt_paging->ioas->iopt, cur->dev, NULL);
 *             if (rc)
 *                     goto err_unresv;
 *     }
 *
 * The fault is a copy-and-paste slip from the single-device attach path
 * (iommufd_device_attach_reserved_iova): the loop body passes idev->dev — the
 * device whose file the ioctl came through — instead of cur->dev. The loop
 * still runs once per attached device, but it reserves the calling device's
 * regions each time (owner = that device), and never the siblings'.
 * err_unresv and the later iommufd_group_remove_reserved_iova walk the list
 * correctly, so nothing else changes.
 *
 * Consequence for a user: in a multi-device iommu group whose other device
 * has a reserved window (an MSI doorbell, a peer BAR, a firmware range), the
 * new IOAS leaves that window allocatable while the sibling translates
 * through it: IOMMU_IOAS_MAP / IOMMU_IOAS_COPY at the window succeed (they
 * must fail), IOMMU_IOAS_IOVA_RANGES reports it usable, and the sibling's DMA
 * to the window reaches user memory instead of being kept out of the IOAS.
 * The calling device's own windows and a single-device group are unaffected,
 * so the bug shows only with two attached devices of one group, a replace
 * into another IOAS, and a request issued through the device that does not
 * own the window.
 *
 * Applied as: the replace branch of VFIO_DEVICE_ATTACH_IOMMUFD_PT through a
 * copy of iommufd_device_replace (_replace.ts) whose reserved-region step is
 * the faulty loop; everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { findHwptPaging, iommufdGroupRemoveReservedIova } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import { PHYS_ADDR_MAX, type IommufdDevice, type IommufdGroup, type IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';
import { deviceReplaceWith, replaceAttachIoctl } from './_replace.ts';

/** iommufd_group_do_replace_reserved_iova with the loop body using idev->dev (THE FAULT). */
function replaceReservedIovaCallerOnly(idev: IommufdDevice, igroup: IommufdGroup, hwpt: IommufdHwptPaging): number {
  const old = findHwptPaging(igroup.hwpt);
  const unwind = new Unwind();
  if (!old || hwpt.ioas !== old.ioas) {
    unwind.onError('err_unresv', () => iommufdGroupRemoveReservedIova(igroup, hwpt));
    for (const _cur of igroup.deviceList) {
      // THE FAULT: idev->dev where cur->dev belongs (regions and owner are the caller's).
      const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, idev.dev.resvRegions(), idev.dev);
      if (rc) return unwind.exit(rc);
    }
  }
  // iommufd_group_setup_msi (the MSI cookie, once per domain)
  if (igroup.swMsiStart !== PHYS_ADDR_MAX && !hwpt.msiCookie) hwpt.msiCookie = true;
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  const deviceReplace = (idev: IommufdDevice, ptId: { value: number }): number =>
    deviceReplaceWith({ replaceReservedIova: (igroup, hwpt) => replaceReservedIovaCallerOnly(idev, igroup, hwpt) })(idev, ptId);
  return mutantImplementation('replace-resv-enforces-caller-only', profile, {
    vfioIoctl: replaceAttachIoctl(deviceReplace),
  });
}
