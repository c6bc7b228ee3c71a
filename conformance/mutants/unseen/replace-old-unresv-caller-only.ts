/**
 * R19-C1 — replace-old-unresv-caller-only (drivers/iommu/iommufd/device.c
 * iommufd_device_do_replace, success path; 6.12 and 7.3 alike).
 *
 * Replacing the HWPT of an attached device moves its whole iommu_group: every
 * device of the group that is attached switches to the new domain with it.
 * Each attached device owns its reserved regions (the MSI window, its own
 * RMRR-like windows) in the IOAS it translates through, so when the new HWPT
 * sits on another IOAS the regions of every attached device are first
 * reserved in the new IOAS (iommufd_group_do_replace_reserved_iova), and, once
 * the domain has switched, taken out of the old one for every attached device
 * as well (7.3; 6.12 is the same without the pasid test):
 *
 *     rc = iommufd_hwpt_replace_device(idev, pasid, hwpt, old_hwpt);
 *     if (rc)
 *             goto err_unresv;
 *
 *     old_hwpt_paging = find_hwpt_paging(old_hwpt);
 *     if (old_hwpt_paging && pasid == IOMMU_NO_PASID &&
 *         (!hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas))
 *             iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging);
 *
 * THE FAULT: the removal is the single-device one, copied from
 * iommufd_hw_pagetable_detach, where only the leaving device's regions go:
 *
 *             iopt_remove_reserved_iova(&old_hwpt_paging->ioas->iopt,
 *                                       idev->dev);
 *
 * Only the regions of the device whose file issued the replace leave the old
 * IOAS; the regions of its attached siblings stay there, owned by devices that
 * no longer translate through that IOAS. Nothing ever removes them: the
 * siblings' later detach (or their own replace) removes their regions from
 * the IOAS they are attached to then, not from this one.
 *
 * What it breaks, only over several commands and two devices of one group: a
 * group of two attached devices (A, B) is moved by A's
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT from a HWPT of IOAS 1 to a HWPT of IOAS 2.
 * IOAS 1 keeps B's windows reserved although no device of the group is
 * attached to it any more (its automatic HWPT may even be gone): an
 * IOMMU_IOAS_MAP / IOMMU_IOAS_COPY with a fixed IOVA inside a window (for
 * example the x86 MSI window 0xfee00000 that every VT-d device reports, or B's
 * own reserved range) fails with EINVAL (iopt_check_iova: a reserved IOVA)
 * where it must succeed, IOMMU_IOAS_ALLOW_IOVAS over the window fails with
 * EADDRINUSE, IOMMU_IOAS_IOVA_RANGES and the
 * type1 VFIO_IOMMU_GET_INFO IOVA-range capability report the window as
 * unusable, and a later attach of another device to IOAS 1 inherits them. The
 * replace itself answers exactly as the kernel's, and a single-device group
 * (every selftest mock device) is unaffected: the caller is the group.
 *
 * Applied as: the replace branch of VFIO_DEVICE_ATTACH_IOMMUFD_PT (an attached
 * device) goes through _replace.ts's copy of iommufd_device_replace →
 * iommufd_device_change_pt(do_replace) with the faulty removal (and its
 * replaceAttachIoctl for the pt_id copy-back and its undo); every other
 * command is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { deviceReplaceWith, replaceAttachIoctl } from './_replace.ts';

export function createAdapter(profile: Profile): Implementation {
  const deviceReplace = deviceReplaceWith({
    // THE FAULT: iopt_remove_reserved_iova(&old_hwpt_paging->ioas->iopt, idev->dev)
    // where iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging) belongs.
    removeOldReservedIova: (idev, oldPaging) => ioptRemoveReservedIova(oldPaging.ioas.iopt, idev.dev),
  });
  return mutantImplementation('replace-old-unresv-caller-only', profile, { vfioIoctl: replaceAttachIoctl(deviceReplace) });
}
