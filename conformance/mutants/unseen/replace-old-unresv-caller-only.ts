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
 * device) goes through a copy of iommufd_device_replace →
 * iommufd_device_change_pt(do_replace) with the faulty removal (the pt_id
 * copy-back and its undo are _replace.ts's replaceAttachIoctl); every other
 * command is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_dec, refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdHwpt, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceIsAttached } from '../../../impl/iommufd/group.ts';
import {
  findHwptPaging,
  iommufdGroupDoReplaceReservedIova,
  iommufdGroupRemoveReservedIova,
  iommufdHwPagetablePut,
  iommufdHwptPagingAlloc,
  iommufdHwptReplaceDevice,
} from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { replaceAttachIoctl } from './_replace.ts';

type ReplaceOut = { readonly errno: number; readonly destroy: IommufdHwpt | null };

/** iommufd_device_do_replace with the faulty removal from the old IOAS. */
function doReplace(idev: IommufdDevice, hwpt: IommufdHwpt): ReplaceOut {
  const igroup = idev.igroup;
  const paging = findHwptPaging(hwpt);
  if (igroup.hwpt === null) return { errno: -EINVAL, destroy: null };
  if (!iommufdDeviceIsAttached(idev)) return { errno: -EINVAL, destroy: null };
  if (hwpt === igroup.hwpt) return { errno: 0, destroy: null };
  const oldHwpt = igroup.hwpt;
  const unwind = new Unwind();
  if (paging) {
    const rc = iommufdGroupDoReplaceReservedIova(igroup, paging);
    if (rc) return unwind.exit({ errno: rc, destroy: null });
    unwind.onError('err_unresv', () => iommufdGroupRemoveReservedIova(igroup, paging));
  }
  const rc = iommufdHwptReplaceDevice(idev, hwpt);
  if (rc) return unwind.exit({ errno: rc, destroy: null });
  unwind.exit(0);
  const oldPaging = findHwptPaging(oldHwpt);
  if (oldPaging && (!paging || paging.ioas !== oldPaging.ioas)) {
    // THE FAULT: iopt_remove_reserved_iova(&old_hwpt_paging->ioas->iopt, idev->dev)
    // where iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging) belongs.
    ioptRemoveReservedIova(oldPaging.ioas.iopt, idev.dev);
  }
  igroup.hwpt = hwpt;
  const n = igroup.deviceList.length;
  // Move the device_list's references; keep one on the old HWPT for the caller to put.
  for (let i = 0; i < n; i++) refcount_inc(hwpt);
  for (let i = 0; i < n - 1; i++) refcount_dec(oldHwpt);
  return { errno: 0, destroy: oldHwpt };
}

/** iommufd_device_auto_get_domain in replace mode (no immediate attach), over the faulty do_replace. */
function autoGetDomain(idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }): ReplaceOut {
  for (const hwpt of [...ioas.hwptList]) {
    if (!hwpt.autoDomain) continue;
    const out = doReplace(idev, hwpt);
    if (out.errno) {
      if (out.errno === -EINVAL) continue;
      return out;
    }
    ptId.value = hwpt.id;
    return out;
  }
  const r = iommufdHwptPagingAlloc(idev.ictx, ioas, idev, 0, false, undefined);
  if (r.errno || !r.value) return { errno: r.errno, destroy: null };
  const hwpt = r.value;
  const unwind = new Unwind();
  unwind.onError('out_abort', () => iommufdObjectAbortAndDestroy(idev.ictx, hwpt));
  const out = doReplace(idev, hwpt);
  if (out.errno) return unwind.exit(out);
  unwind.exit(0);
  hwpt.autoDomain = true;
  ptId.value = hwpt.id;
  iommufdObjectFinalize(idev.ictx, hwpt);
  return { errno: 0, destroy: out.destroy };
}

/** iommufd_device_replace → iommufd_device_change_pt(iommufd_device_do_replace). */
function deviceReplace(idev: IommufdDevice, ptId: { value: number }): number {
  const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
  if (pt.errno || !pt.value) return pt.errno;
  let out: ReplaceOut;
  switch (pt.value.type) {
    case 'HWPT_NESTED':
    case 'HWPT_PAGING':
      out = doReplace(idev, pt.value as IommufdHwpt);
      break;
    case 'IOAS':
      out = autoGetDomain(idev, pt.value as IommufdIoas, ptId);
      break;
    default:
      return -EINVAL;
  }
  if (out.errno) return out.errno;
  if (out.destroy) iommufdHwPagetablePut(idev.ictx, out.destroy);
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('replace-old-unresv-caller-only', profile, {
    vfioIoctl: replaceAttachIoctl(deviceReplace),
  });
}
