/**
 * R40-C2 — group-replace-resv-no-unwind (drivers/iommu/iommufd/device.c,
 * iommufd_group_do_replace_reserved_iova; 6.12 and 7.3).
 *
 * Replacing the HWPT of an attached group with one on another IOAS first
 * reserves, in the new IOAS, the reserved regions of every attached device of
 * the group; if one device's regions cannot be reserved (an existing mapping
 * sits on them: EADDRINUSE) the ones already reserved for the other devices are
 * dropped again, and the replace fails with nothing changed:
 *
 *     if (!old_hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas) {
 *             list_for_each_entry(cur, &igroup->device_list, group_item) {
 *                     rc = iopt_table_enforce_dev_resv_regions(
 *                             &hwpt_paging->ioas->iopt, cur->dev, NULL);
 *                     if (rc)
 *                             goto err_unresv;
 *             }
 *     }
 *     ...
 *     err_unresv:
 *             iommufd_group_remove_reserved_iova(igroup, hwpt_paging);
 *             return rc;
 *
 * THE FAULT: the loop's `goto err_unresv` became `return rc;` (the per-device
 * helper unwinds its own partial work, so the author thought nothing was left).
 * The failing device's regions are gone, but those of the devices before it in
 * the group's list stay reserved in the new IOAS, owned by devices that are not
 * attached to it. The replace answers EADDRINUSE as it should; the damage shows
 * later: IOMMU_IOAS_IOVA_RANGES of that IOAS reports holes (the MSI window, …)
 * no attached device needs, IOMMU_IOAS_MAP at a fixed IOVA there fails with
 * EINVAL (ALLOW_IOVAS with EADDRINUSE), and the stale ranges are only
 * dropped if one of those devices is later attached to and detached from that
 * IOAS.
 *
 * Applied as: around VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached device whose
 * new page table is on another IOAS, when the reference fails, the group's
 * loop is run again (without fail-nth) in the reference's own order with the
 * reference's own iopt_table_enforce_dev_resv_regions; if it stops at a device
 * with the same errno, the reservations of the devices before it are kept
 * (everything else is removed again, as the reference left it).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ioptRemoveReservedIova, ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import type { IommufdHwptPaging, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import type { FaultInjector } from '../../../impl/lib/fail_nth.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('group-replace-resv-no-unwind', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const idev = df.device.iommufdDevice;
      if (!idev || !df.accessGranted || !df.device.iommufdAttached) return original();
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const s = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      if (s.num('flags')) return original();
      const igroup = idev.igroup;
      const old = igroup.hwpt;
      if (!old || old.type !== 'HWPT_PAGING') return original();
      const pt = idev.ictx.objects.load(s.num('pt_id'));
      let ioas: IommufdIoas | null = null;
      if (pt?.type === 'IOAS') ioas = pt as IommufdIoas;
      else if (pt?.type === 'HWPT_PAGING') ioas = (pt as IommufdHwptPaging).ioas;
      if (!ioas || ioas === old.ioas) return original();
      const devices = [...igroup.deviceList];
      const rc = original();
      if (rc >= 0) return rc;
      // The group's loop again, in the reference's order, with no injected failure.
      const iopt = ioas.iopt;
      const faults = iopt.faults;
      const quiet = { shouldFail: () => false } as unknown as FaultInjector;
      Object.defineProperty(iopt, 'faults', { value: quiet, writable: true, configurable: true, enumerable: true });
      let failedAt = -1;
      let failRc = 0;
      try {
        for (let i = 0; i < devices.length; i++) {
          const cur = devices[i]!;
          const r = ioptTableEnforceDevResvRegions(iopt, cur.dev.resvRegions(), cur.dev);
          if (r) {
            failedAt = i;
            failRc = r;
            break;
          }
        }
      } finally {
        Object.defineProperty(iopt, 'faults', { value: faults, writable: true, configurable: true, enumerable: true });
      }
      // THE FAULT: a failure inside the loop returns without iommufd_group_remove_reserved_iova.
      const keep = failedAt > 0 && failRc === rc ? failedAt : 0;
      const added = failedAt < 0 ? devices.length : failedAt;
      for (let i = keep; i < added; i++) ioptRemoveReservedIova(iopt, devices[i]!.dev);
      return rc;
    },
  });
}
