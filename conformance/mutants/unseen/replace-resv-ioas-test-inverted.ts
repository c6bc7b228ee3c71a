/**
 * replace-resv-ioas-test-inverted (drivers/iommu/iommufd/device.c
 * iommufd_group_do_replace_reserved_iova, called by
 * iommufd_device_do_replace).
 *
 * Replacing a group's HWPT moves the whole group; when the new HWPT sits on
 * another IOAS, every attached device's reserved regions (MSI window, RMRR /
 * IVMD-like device regions, the AMD HT hole...) must first be reserved in the
 * new IOAS, which refuses the move if something is mapped there:
 *
 *     old_hwpt_paging = find_hwpt_paging(igroup->hwpt);
 *     if (!old_hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas) {
 *             list_for_each_entry(cur, &igroup->device_list, group_item) {
 *                     rc = iopt_table_enforce_dev_resv_regions(
 *                             &hwpt_paging->ioas->iopt, cur->dev, NULL);
 *                     if (rc)
 *                             goto err_unresv;
 *             }
 *     }
 *
 * The fault inverts the IOAS test (`==` for `!=`): the regions are reserved
 * again in the IOAS the group already uses (harmless duplicates) and are not
 * reserved at all in a new one. iommufd_device_do_replace then succeeds and,
 * the IOAS having changed, drops the group's reservations from the old IOAS
 * as it should.
 *
 * Consequence: after VFIO_DEVICE_ATTACH_IOMMUFD_PT moves an attached device
 * to an HWPT (or, through its IOAS, an automatic HWPT) of another IOAS, that
 * IOAS keeps none of the group's reserved ranges: a replace onto an IOAS that
 * already maps the MSI window or a device's reserved region succeeds instead
 * of failing with EADDRINUSE, IOMMU_IOAS_MAP / ALLOW_IOVAS accept those
 * ranges while the devices are attached, IOMMU_IOAS_IOVA_RANGES reports them
 * usable, and the devices' DMA to the MSI doorbell or to their firmware-owned
 * region is translated into user pages instead. Attaching (not replacing)
 * keeps the reference's behaviour, so only groups moved between IOASes lose
 * their reservations.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached device (the
 * replace path of vfio_iommufd_physical_attach_ioas) runs a copy of the
 * reference's iommufd_device_replace with the inverted test; everything else
 * is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { type IommufdGroup, type IommufdHwptPaging, PHYS_ADDR_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging, iommufdGroupRemoveReservedIova } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { deviceReplaceWith, replaceAttachIoctl } from './_replace.ts';

/** iommufd_group_setup_msi */
function groupSetupMsi(igroup: IommufdGroup, hwpt: IommufdHwptPaging): void {
  if (igroup.swMsiStart !== PHYS_ADDR_MAX && !hwpt.msiCookie) hwpt.msiCookie = true;
}

/** iommufd_group_do_replace_reserved_iova, with the fault. */
function groupDoReplaceReservedIova(igroup: IommufdGroup, hwpt: IommufdHwptPaging): number {
  const old = findHwptPaging(igroup.hwpt);
  const unwind = new Unwind();
  // THE FAULT: `hwpt_paging->ioas == old_hwpt_paging->ioas` — reserve in the IOAS the group already has, not in a new one.
  if (!old || hwpt.ioas === old.ioas) {
    unwind.onError('err_unresv', () => iommufdGroupRemoveReservedIova(igroup, hwpt));
    for (const cur of igroup.deviceList) {
      const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, cur.dev.resvRegions(), cur.dev);
      if (rc) return unwind.exit(rc);
    }
  }
  groupSetupMsi(igroup, hwpt);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('replace-resv-ioas-test-inverted', profile, {
    // vfio_df_ioctl_attach_pt, replace branch of vfio_iommufd_physical_attach_ioas (a first attach is the reference's).
    vfioIoctl: replaceAttachIoctl(deviceReplaceWith({ replaceReservedIova: groupDoReplaceReservedIova })),
  });
}
