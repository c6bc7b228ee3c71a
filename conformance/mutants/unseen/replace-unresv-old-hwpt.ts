/**
 * Fault K1 (device replace, reserved regions): iommufd_device_do_replace's
 * err_unresv label removes the group's reserved IOVA from the OLD hwpt's IOAS
 * instead of the NEW one, when iommufd_hwpt_replace_device fails after
 * iommufd_group_do_replace_reserved_iova added the group's regions to the new
 * IOAS.
 *
 * Consequence: the IOAS the group is still attached to loses its devices'
 * reserved regions (e.g. the x86 MSI window 0xfee00000..0xfeefffff becomes
 * mappable and offered by IOVA_RANGES while a device translating through that
 * IOAS still owns it), and the IOAS the replace was aimed at keeps stale
 * reservations owned by a device that is not attached to it.
 *
 * Real bug: "iommufd/device: Fix hwpt at err_unresv in
 * iommufd_device_do_replace()" (v6.6-rc, Fixes: 89db31635c87 "iommufd: Add
 * iommufd_device_replace()").
 *
 * Applied as: iommu_replace_group_handle failing is recorded; after the
 * VFIO ATTACH (a replace, the device being attached) fails, the reference's
 * correct unwind is turned into the faulty one (the new IOAS gets the regions
 * back, the old IOAS loses them).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { ioptRemoveReservedIova, ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import type { IommufdHwptPaging, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf } from '../../../impl/iommufd/ucmd.ts';
import { getU32 } from '../../../spec/abi/le.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  let replaceFailed = false;
  return mutantImplementation('replace-unresv-old-hwpt', profile, {
    machine: (m) =>
      patchOwn(m, 'iommuReplaceGroup', (replace) => (g, domain) => {
        const rc = replace(g, domain);
        if (rc) replaceFailed = true;
        return rc;
      }),
    vfioIoctl: (df, cmd, arg, original) => {
      if (cmd !== commandByName(df.profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.request) return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || !vdev.iommufdAttached || !df.iommufd) return original();
      const igroup = idev.igroup;
      const old = igroup.hwpt;
      const oldPaging = old && old.type === 'HWPT_PAGING' ? (old as IommufdHwptPaging) : null;
      // The target: pt_id as the caller passed it (an IOAS, or a paging HWPT of one).
      const off = layoutOf('vfio_device_attach_iommufd_pt', df.profile).fields.get('pt_id')!.offset;
      const raw = df.proc.copyFromUser(arg + BigInt(off), 4);
      replaceFailed = false;
      const rc = original();
      const failed = replaceFailed;
      replaceFailed = false;
      if (rc >= 0 || !failed || !oldPaging || !raw) return rc;
      const pt = df.iommufd.ctx.objects.load(getU32(raw, 0));
      const newIoas = pt?.type === 'IOAS' ? (pt as IommufdIoas) : pt?.type === 'HWPT_PAGING' ? (pt as IommufdHwptPaging).ioas : null;
      if (!newIoas || newIoas === oldPaging.ioas) return rc;
      // err_unresv: iommufd_group_remove_reserved_iova(igroup, <the old hwpt>)
      for (const cur of igroup.deviceList) {
        ioptTableEnforceDevResvRegions(newIoas.iopt, cur.dev.resvRegions(), cur.dev);
        ioptRemoveReservedIova(oldPaging.ioas.iopt, cur.dev);
      }
      return rc;
    },
  });
}
