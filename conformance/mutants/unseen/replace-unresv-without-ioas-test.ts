/**
 * R23-C2 — replace-unresv-without-ioas-test (drivers/iommu/iommufd/device.c
 * iommufd_device_do_replace, its success path; 6.12 and 7.3 alike; reached by
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached device, by HWPT id or by IOAS
 * id through iommufd_device_auto_get_domain).
 *
 * A replace moves the whole group to the new HWPT. Each attached device owns
 * its reserved regions (the MSI window, firmware / device-specific ranges,
 * the AMD HyperTransport hole) in the IOAS it translates through. When the
 * new HWPT sits on another IOAS they are reserved there first
 * (iommufd_group_do_replace_reserved_iova) and, once the domain has
 * switched, taken out of the old IOAS — only then: when both HWPTs share one
 * IOAS the group keeps translating through it and the regions must stay.
 * 6.12:
 *
 *     old_hwpt_paging = find_hwpt_paging(old_hwpt);
 *     if (old_hwpt_paging &&
 *         (!hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas))
 *             iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging);
 *
 * (7.3 adds `pasid == IOMMU_NO_PASID &&` to the same test.)
 *
 * THE FAULT: the IOAS clause is lost when the test is rewritten ("the group
 * has left the old HWPT, so its reservations leave the old HWPT's IOAS";
 * the 7.3 PASID rework touched exactly this line):
 *
 *     if (old_hwpt_paging && pasid == IOMMU_NO_PASID)
 *             iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging);
 *
 * A replace onto a HWPT of another IOAS behaves exactly as before. A replace
 * onto another HWPT of the SAME IOAS — an automatic HWPT swapped for one the
 * VMM allocated with IOMMU_HWPT_ALLOC (to get dirty tracking or a nesting
 * parent), one user HWPT for another, or a user HWPT back to the IOAS by id
 * — answers 0 and switches the domain correctly, but takes every attached
 * device's reserved regions out of the IOAS the group still translates
 * through. Nothing shows on that command; later commands on other objects
 * run into it while the devices stay attached:
 *   - IOMMU_IOAS_MAP / IOMMU_IOAS_COPY / VFIO_IOMMU_MAP_DMA and
 *     IOMMU_IOAS_ALLOW_IOVAS accept the MSI doorbell window (0xfee00000 on
 *     x86, the SW_MSI window on Arm) and the devices' own reserved ranges,
 *     and IOMMU_IOAS_IOVA_RANGES reports them usable;
 *   - once something is mapped there, the device's MSI writes (and its DMA to
 *     its firmware-owned range) are translated into user pages instead of
 *     reaching the interrupt controller: interrupts are lost, and a guest
 *     that can program the device's MSI address writes into its own (or,
 *     with a shared IOAS, another device's) memory through a window the
 *     kernel promised to keep out of reach.
 * The regions come back only when a device of the group attaches again.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached device (the
 * replace branch of vfio_iommufd_physical_attach_ioas) runs a copy of the
 * reference's iommufd_device_replace without the IOAS clause; attach, detach
 * and everything else are the reference's. (Selftest mock devices have no
 * reserved regions, so IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE is unchanged.)
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
import { mutantImplementation } from '../harness.ts';
import { replaceAttachIoctl } from './_replace.ts';

type ReplaceOut = { readonly errno: number; readonly destroy: IommufdHwpt | null };

/** iommufd_device_do_replace, with the fault in the old-IOAS removal. */
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
  // THE FAULT: the IOAS test is gone; the old HWPT's IOAS loses the group's regions even when it is the new one's.
  if (oldPaging) iommufdGroupRemoveReservedIova(igroup, oldPaging);
  igroup.hwpt = hwpt;
  const n = igroup.deviceList.length;
  for (let i = 0; i < n; i++) refcount_inc(hwpt);
  for (let i = 0; i < n - 1; i++) refcount_dec(oldHwpt);
  return { errno: 0, destroy: oldHwpt };
}

/** iommufd_device_auto_get_domain in replace mode (the reference's), over the faulty do_replace. */
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

/** iommufd_device_replace → iommufd_device_change_pt(do_replace). */
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
  return mutantImplementation('replace-unresv-without-ioas-test', profile, {
    vfioIoctl: replaceAttachIoctl(deviceReplace),
  });
}
