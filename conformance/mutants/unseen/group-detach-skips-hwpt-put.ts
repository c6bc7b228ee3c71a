/**
 * group-detach-skips-hwpt-put (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_detach and its caller iommufd_device_detach).
 *
 * Every device of an iommu_group that attaches to a HWPT takes a users
 * reference on it (iommufd_hw_pagetable_attach: refcount_inc(&hwpt->obj.users)
 * for each device, while only the group's first device really attaches the
 * group to the domain). Detach must give each device's reference back:
 *
 *     list_del(&idev->group_item);
 *     if (list_empty(&idev->igroup->device_list)) {
 *             iommufd_hwpt_detach_device(hwpt, idev);
 *             idev->igroup->hwpt = NULL;
 *     }
 *     ...
 *     return hwpt;          // iommufd_device_detach: iommufd_hw_pagetable_put()
 *
 * The fault mirrors the attach side's "only the first device attaches the
 * group" on the way out: when other devices of the group stay attached the
 * detach returns no HWPT ("the group keeps its domain, nothing to destroy")
 * and iommufd_device_detach, which now does `if (hwpt)
 * iommufd_hw_pagetable_put(...)`, drops nothing. Only the group's last device
 * puts its reference.
 *
 * Nothing shows with single-device groups. With a multi-device group, every
 * device that detaches (VFIO_DEVICE_DETACH_IOMMUFD_PT, or closing its VFIO
 * file while a sibling stays attached) leaks one users reference on the HWPT:
 *   - a user-allocated HWPT can never be destroyed (IOMMU_DESTROY: EBUSY)
 *     once the whole group has left, nor can its IOAS (the HWPT holds it);
 *   - an automatic HWPT does not self-destruct when the group's last device
 *     leaves: it stays on the IOAS with its domain, still mapping and pinning
 *     every area, and the IOAS stays busy;
 *   - at close iommufd_fops_release cannot destroy them (users > 1, WARN):
 *     the domain's pages stay pinned and charged after every file is closed.
 *
 * Applied as: each iommufd_group's device list (igroup->device_list) is
 * wrapped so that the list_del of a device that leaves siblings attached
 * cancels the put iommufd_device_detach will do (the reference that is not
 * given back).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdDevice, IommufdGroup } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

type Splice = (start: number, deleteCount?: number, ...items: IommufdDevice[]) => IommufdDevice[];

function patchGroup(igroup: IommufdGroup): void {
  const list = igroup.deviceList as IommufdDevice[] & { splice: Splice };
  patchOwn(list, 'splice', (splice: Splice) => (start: number, deleteCount?: number, ...items: IommufdDevice[]) => {
    const removed = deleteCount === undefined ? splice(start) : splice(start, deleteCount, ...items);
    // iommufd_hw_pagetable_detach: a device left and the group stays attached.
    if (removed.length > 0 && list.length > 0 && igroup.hwpt) {
      // THE FAULT: no HWPT is returned, so this device's reference is never put.
      igroup.hwpt.users++;
    }
    return removed;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('group-detach-skips-hwpt-put', profile, {
    ctx: (ctx) => {
      patchOwn(ctx.groups, 'set', (set) => (key, igroup) => {
        if (!ctx.groups.has(key) || ctx.groups.get(key) !== igroup) patchGroup(igroup);
        return set(key, igroup);
      });
    },
  });
}
