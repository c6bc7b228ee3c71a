/**
 * detach-drops-group-resv (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_detach).
 *
 * Each device of a group adds its own reserved regions (the MSI window, RMRR
 * / device-specific ranges) to the IOAS when it attaches, tagged with the
 * device as owner, and takes exactly those away when it detaches — the
 * other devices of the group stay attached and keep theirs:
 *
 *     mutex_lock(&idev->igroup->lock);
 *     list_del(&idev->group_item);
 *     if (list_empty(&idev->igroup->device_list)) {
 *             iommufd_hwpt_detach_device(hwpt, idev, pasid);
 *             idev->igroup->hwpt = NULL;
 *     }
 *     if (hwpt_paging)
 *             iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev);
 *     mutex_unlock(&idev->igroup->lock);
 *
 * The fault replaces the per-device call by the group-wide helper that the
 * replace path uses, called before the list_del:
 *
 *     if (hwpt_paging)
 *             iommufd_group_remove_reserved_iova(idev->igroup, hwpt_paging);
 *     list_del(&idev->group_item);
 *
 * so detaching one device of a multi-device group strips the reserved
 * regions of every device of the group from the IOAS, while the others are
 * still attached to it and still translate through it.
 *
 * Consequence: the IOAS no longer keeps the remaining devices' reserved
 * ranges out of reach. IOMMU_IOAS_IOVA_RANGES reports them as usable, and
 * IOMMU_IOAS_MAP (fixed or automatic IOVA) places user memory over a still
 * attached device's MSI doorbell window or its RMRR/reserved range: that
 * device's DMA to those addresses now lands in user pages (or, on real
 * hardware, its MSI writes are steered into a guest buffer / the firmware's
 * direct-mapped region is overwritten by user mappings).
 *
 * Applied as: on every IOAS, when a device's reservations are removed by
 * the detach of that device (not inside a VFIO ATTACH — the replace and
 * attach-unwind paths are left alone) and devices of its group remain
 * attached to a HWPT on this IOAS, their reservations go too.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdCtx, IommufdIoas, ReservedRange } from '../../../impl/iommufd/iommufd_private.ts';
import { SimDevice } from '../../../impl/platform/iommu.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const attachReq = commandByName(profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.request;
  let attaching = 0;
  return mutantImplementation('detach-drops-group-resv', profile, {
    vfioIoctl: (_df, cmd, _arg, original) => {
      if (attachReq === undefined || cmd >>> 0 !== attachReq) return original();
      attaching++;
      try {
        return original();
      } finally {
        attaching--;
      }
    },
    object: (obj, ctx: IommufdCtx) => {
      if (obj.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      let cur: ReservedRange[] = iopt.reserved;
      Object.defineProperty(iopt, 'reserved', {
        configurable: true,
        enumerable: true,
        get: () => cur,
        set: (next: ReservedRange[]) => {
          const prev = cur;
          cur = next;
          if (attaching) return;
          const owners = new Set(prev.filter((r) => !next.includes(r)).map((r) => r.owner));
          if (owners.size !== 1) return;
          const [owner] = owners;
          if (!(owner instanceof SimDevice)) return;
          const igroup = ctx.groups.get(owner.group.id);
          if (!igroup || !igroup.hwpt || igroup.hwpt.ioas.iopt !== iopt) return;
          // iopt_remove_reserved_iova(idev->dev) of a detach: the device has already left device_list.
          if (igroup.deviceList.some((d) => d.dev === owner)) return;
          const siblings = new Set<unknown>(igroup.deviceList.map((d) => d.dev));
          if (siblings.size === 0) return;
          // THE FAULT: iommufd_group_remove_reserved_iova — the still attached devices' regions go too.
          cur = cur.filter((r) => !siblings.has(r.owner));
        },
      });
    },
  });
}
