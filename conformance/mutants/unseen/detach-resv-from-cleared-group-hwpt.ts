/**
 * detach-resv-from-cleared-group-hwpt (drivers/iommu/iommufd/device.c,
 * iommufd_hw_pagetable_detach; the 6.12 code).
 *
 * 6.12 reads the group's HWPT once, before it detaches anything, and takes the
 * detaching device's reserved regions out of that HWPT's IOAS in every case:
 *     struct iommufd_hw_pagetable *hwpt = idev->igroup->hwpt;
 *     struct iommufd_hwpt_paging *hwpt_paging = find_hwpt_paging(hwpt);
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
 * THE FAULT: a "read igroup->hwpt under igroup->lock" cleanup moves the
 * lookup down to its user and re-reads the field there:
 *     hwpt_paging = find_hwpt_paging(idev->igroup->hwpt);
 *     if (hwpt_paging)
 *             iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev);
 * For every device but the group's last one the field is unchanged and the
 * answer is the kernel's. For the last device of the group the field was
 * just cleared, so hwpt_paging is NULL and that device's reserved regions
 * (the VT-d/AMD MSI window, the SMMU SW_MSI window, firmware RMRR-style
 * regions) stay reserved in the IOAS after the group has left it.
 *
 * Observable later, on the IOAS: after the last detach (DETACH_IOMMUFD_PT,
 * the device file's close, the mock device's destroy), the IOAS still
 * reports the holes in IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_MAP with a fixed
 * IOVA there fails (EINVAL; the kernel maps it), an automatic IOVA
 * avoids the range, IOMMU_IOAS_ALLOW_IOVAS over it is EADDRINUSE, and the
 * compat VFIO_IOMMU_GET_INFO IOVA ranges keep the hole — for an IOAS no
 * device uses any more, with an owner pointer to a device that may be gone.
 *
 * Applied as (6.12 only; 7.3's detach reads attach->hwpt before it frees the
 * attach): when the machine detaches a group (iommu_detach_group_handle,
 * reached only for the group's last device), the next reserved-range removal
 * — the one iommufd_hw_pagetable_detach makes right after — keeps the
 * regions of that group's devices.
 */
import type { IommufdIoas, ReservedRange } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommuGroup } from '../../../impl/platform/iommu.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  /** The devices of a group whose last device is being detached: their removal is the one hwpt_paging == NULL skips. */
  let skipRemovalOf: ReadonlySet<unknown> | null = null;
  if (profile !== '6.12') return mutantImplementation('detach-resv-from-cleared-group-hwpt', profile, {});
  return mutantImplementation('detach-resv-from-cleared-group-hwpt', profile, {
    machine: (m) => {
      patchOwn(m, 'iommuDetachGroup', (detach) => (g: IommuGroup) => {
        detach(g);
        // igroup->hwpt = NULL follows; then the faulty re-read finds no HWPT.
        skipRemovalOf = new Set(g.devices);
      });
    },
    object: (obj) => {
      if (obj.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      let reserved: ReservedRange[] = iopt.reserved;
      Object.defineProperty(iopt, 'reserved', {
        configurable: true,
        enumerable: true,
        get: () => reserved,
        set: (next: ReservedRange[]) => {
          const skip = skipRemovalOf;
          skipRemovalOf = null;
          // THE FAULT: iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev) is not called.
          const kept = skip ? reserved.filter((r) => skip.has(r.owner) && !next.includes(r)) : [];
          reserved = kept.length ? [...next, ...kept] : next;
        },
      });
    },
    request: (req, next) => {
      const res = next(req);
      skipRemovalOf = null;
      return res;
    },
  });
}
