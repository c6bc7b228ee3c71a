/**
 * Round 6a fault (multi-device groups, detach): iommufd_hw_pagetable_detach
 * (drivers/iommu/iommufd/device.c) removes the leaving device's reserved
 * regions only when the group itself detaches; the call slid into the
 * xa_empty() block:
 *
 *     xa_erase(&attach->device_array, idev->obj.id);
 *     if (xa_empty(&attach->device_array)) {
 *         iommufd_hwpt_detach_device(hwpt, idev, pasid);
 *         ...
 *         if (hwpt_paging && pasid == IOMMU_NO_PASID)     // should be outside
 *             iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev);
 *     }
 *
 * Reserved regions are per device (iommufd_device_attach_reserved_iova adds
 * each device's own when it attaches), so a device of a multi-device group
 * that detaches while a sibling stays attached leaves its regions reserved
 * in the IOAS, owned by a device that is no longer attached to it.
 *
 * Consequence: after VFIO_DEVICE_DETACH_IOMMUFD_PT of one device of a
 * two-device group, the IOAS still excludes that device's reserved regions
 * (its firmware/RMRR ranges): IOMMU_IOAS_IOVA_RANGES keeps the holes, a fixed
 * IOAS_MAP over them fails, and they stay after the sibling detaches too
 * (that detach removes only the sibling's), until the IOAS is destroyed.
 * With one device per group (all selftest mock devices) nothing shows.
 *
 * Applied as: after a successful VFIO DETACH of a device whose group keeps
 * another attached device, the device's reserved regions are reserved again
 * in the HWPT's IOAS.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('detach-sibling-keeps-resv', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      if (cmd !== commandByName(df.profile, 'VFIO_DEVICE_DETACH_IOMMUFD_PT')?.request) return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || !vdev.iommufdAttached) return original();
      const igroup = idev.igroup;
      const hwpt = igroup.hwpt;
      const siblings = igroup.deviceList.length > 1;
      const rc = original();
      if (rc === 0 && siblings && hwpt?.type === 'HWPT_PAGING' && !vdev.iommufdAttached) {
        ioptTableEnforceDevResvRegions((hwpt as IommufdHwptPaging).ioas.iopt, vdev.dev.resvRegions(), vdev.dev);
      }
      return rc;
    },
  });
}
