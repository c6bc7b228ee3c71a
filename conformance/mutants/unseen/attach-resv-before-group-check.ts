/**
 * R27-C1 — attach-resv-before-group-check (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_attach; 6.12 and 7.3 alike).
 *
 * A device joins its iommu_group's attachment: if another device of the group
 * already attached the group to a HWPT, this one must use the same HWPT
 * (EINVAL otherwise). Only once that is settled are the device's reserved
 * regions (the MSI window, its own RMRR-like windows) claimed in the HWPT's
 * IOAS. The kernel (6.12; 7.3 has the same order, with its attach/devid
 * bookkeeping in front):
 *
 *     mutex_lock(&idev->igroup->lock);
 *
 *     if (idev->igroup->hwpt != NULL && idev->igroup->hwpt != hwpt) {
 *             rc = -EINVAL;
 *             goto err_unlock;
 *     }
 *
 *     if (hwpt_paging) {
 *             rc = iommufd_device_attach_reserved_iova(idev, hwpt_paging);
 *             if (rc)
 *                     goto err_unlock;
 *     }
 *
 *     if (list_empty(&idev->igroup->device_list)) {
 *             rc = iommufd_hwpt_attach_device(hwpt, idev, pasid);
 *             if (rc)
 *                     goto err_unresv;
 *             idev->igroup->hwpt = hwpt;
 *     }
 *     ...
 * err_unresv:
 *     if (hwpt_paging)
 *             iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev);
 * err_unlock:
 *     mutex_unlock(&idev->igroup->lock);
 *     return rc;
 *
 * THE FAULT: the two checks swap places — the reservation is made first (so a
 * device whose window collides with a mapping reports EADDRINUSE whatever the
 * group is doing), and the group-mismatch test keeps its old exit, which sits
 * below err_unresv (6.12: err_unlock; 7.3: err_release_devid):
 *
 *     if (hwpt_paging) {
 *             rc = iommufd_device_attach_reserved_iova(idev, hwpt_paging);
 *             if (rc)
 *                     goto err_unlock;
 *     }
 *
 *     if (idev->igroup->hwpt != NULL && idev->igroup->hwpt != hwpt) {
 *             rc = -EINVAL;
 *             goto err_unlock;        <- the reservation just made stays
 *     }
 *
 * Only a device whose group is already attached (by a sibling) can take that
 * exit: a sibling that tries a HWPT of another IOAS — directly by HWPT id, or
 * by IOAS id, where the automatic-domain search tries every automatic HWPT of
 * that IOAS and then a new one, each refusing with EINVAL — is refused exactly
 * as the kernel refuses it, but its reserved regions stay in that other IOAS,
 * owned by a device that does not translate through it. Nothing removes them
 * until that device is detached from a HWPT of that IOAS, which may never
 * happen.
 *
 * Observable, over several commands and two devices of one group plus two
 * IOASes: device A attaches the group to IOAS 1; its sibling B's attach to
 * IOAS 2 fails (EINVAL, as in the kernel); from then on IOAS 2 — used by other
 * groups, or by nothing — refuses IOMMU_IOAS_MAP / COPY at a fixed IOVA in
 * B's windows (the x86 MSI window 0xfee00000-0xfeefffff of every VT-d/AMD
 * device, B's own reserved ranges), IOMMU_IOAS_ALLOW_IOVAS over them answers
 * EADDRINUSE, IOMMU_IOAS_IOVA_RANGES (and the type1 IOVA-range capability on
 * a compat IOAS) report a hole that no attached device explains, and an
 * automatic IOVA allocation avoids it. And a sibling whose window collides
 * with a mapping of IOAS 2 is refused with EADDRINUSE instead of EINVAL.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT of a device not attached yet goes
 * through _attach.ts's copy of iommufd_device_attach over the faulty
 * iommufd_hw_pagetable_attach (also for the immediate attach of a new
 * automatic HWPT); every other command is the reference's. Selftest mock
 * devices sit alone in their groups, so they never reach the faulty exit.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { attachPtIoctl, deviceAttachWith, hwPagetableAttachWith, hwptPagingAllocAttachedWith } from './_attach.ts';

/** iommufd_hw_pagetable_attach with the reservation made before the group-mismatch test, whose exit does not undo it (THE FAULT). */
const hwPagetableAttach = hwPagetableAttachWith({ resvBeforeGroupCheck: true });

export function createAdapter(profile: Profile): Implementation {
  const deviceAttach = deviceAttachWith({ attach: hwPagetableAttach, allocAttached: hwptPagingAllocAttachedWith(hwPagetableAttach) });
  return mutantImplementation('attach-resv-before-group-check', profile, { vfioIoctl: attachPtIoctl({ attach: deviceAttach }) });
}
