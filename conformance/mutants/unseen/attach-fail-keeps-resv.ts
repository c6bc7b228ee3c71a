/**
 * Round 5a fault (device attach error unwind, reserved IOVA):
 * iommufd_hw_pagetable_attach (drivers/iommu/iommufd/device.c) jumps to the
 * wrong label when iommufd_hwpt_attach_device() fails:
 *
 *     rc = iommufd_device_attach_reserved_iova(idev, hwpt_paging);
 *     ...
 *     if (list_empty(&igroup->device_list)) {
 *         rc = iommufd_hwpt_attach_device(hwpt, idev, pasid);
 *         if (rc)
 *             goto err_unlock;        // should be err_unresv
 *
 * so a failed first attach of a group (the driver refusing the domain: another
 * IOMMU unit, no snoop control on an enforcing domain, an aperture too small;
 * or the handle's kzalloc failing) leaves the device's reserved regions
 * (its MSI window, RMRRs, the regions firmware gave it) reserved in the IOAS
 * it never attached to.
 *
 * Consequence: VFIO_DEVICE_ATTACH_IOMMUFD_PT fails but changes the IOAS: its
 * IOMMU_IOAS_IOVA_RANGES lose the device's regions, IOMMU_IOAS_MAP with a
 * fixed IOVA over them fails (EINVAL), automatic IOVA allocation avoids them.
 * Nothing owned by the IOAS's users drops them: the reservations belong to
 * the device, which iommufd_device_unbind does not clean (only a successful
 * attach followed by a detach does), so after an unbind they stay until the
 * IOAS is destroyed.
 *
 * Applied as: after a first VFIO ATTACH that failed in iommu_attach_group, the
 * device's reserved regions are reserved again in the target's IOAS.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import type { IommufdHwptPaging, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf } from '../../../impl/iommufd/ucmd.ts';
import { getU32 } from '../../../spec/abi/le.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  let groupAttachFailed = false;
  return mutantImplementation('attach-fail-keeps-resv', profile, {
    machine: (m) =>
      patchOwn(m, 'iommuAttachGroup', (attach) => (domain, g) => {
        const rc = attach(domain, g);
        if (rc) groupAttachFailed = true;
        return rc;
      }),
    vfioIoctl: (df, cmd, arg, original) => {
      if (cmd !== commandByName(df.profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.request) return original();
      const vdev = df.device;
      if (!vdev.iommufdDevice || vdev.iommufdAttached || !df.iommufd) return original();
      const off = layoutOf('vfio_device_attach_iommufd_pt', df.profile).fields.get('pt_id')!.offset;
      const raw = df.proc.copyFromUser(arg + BigInt(off), 4);
      groupAttachFailed = false;
      const rc = original();
      const failed = groupAttachFailed;
      groupAttachFailed = false;
      if (rc >= 0 || !failed || !raw) return rc;
      const pt = df.iommufd.ctx.objects.load(getU32(raw, 0));
      const ioas = pt?.type === 'IOAS' ? (pt as IommufdIoas) : pt?.type === 'HWPT_PAGING' ? (pt as IommufdHwptPaging).ioas : null;
      if (ioas) ioptTableEnforceDevResvRegions(ioas.iopt, vdev.dev.resvRegions(), vdev.dev); // err_unresv skipped
      return rc;
    },
  });
}
