/**
 * replace-resv-ioas-test-inverted (drivers/iommu/iommufd/device.c
 * iommufd_group_do_replace_reserved_iova, called by
 * iommufd_device_do_replace).
 *
 * Replacing a group's HWPT moves the whole group; when the new HWPT sits on
 * another IOAS, every attached device's reserved regions (MSI window, RMRR /
 * IVMD-like device regions, the AMD HT hole...) must first be reserved in the
 * new IOAS, which refuses the move if something is mapped there:
 *
 *     old_hwpt_paging = find_hwpt_paging(igroup->hwpt);
 *     if (!old_hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas) {
 *             list_for_each_entry(cur, &igroup->device_list, group_item) {
 *                     rc = iopt_table_enforce_dev_resv_regions(
 *                             &hwpt_paging->ioas->iopt, cur->dev, NULL);
 *                     if (rc)
 *                             goto err_unresv;
 *             }
 *     }
 *
 * The fault inverts the IOAS test (`==` for `!=`): the regions are reserved
 * again in the IOAS the group already uses (harmless duplicates) and are not
 * reserved at all in a new one. iommufd_device_do_replace then succeeds and,
 * the IOAS having changed, drops the group's reservations from the old IOAS
 * as it should.
 *
 * Consequence: after VFIO_DEVICE_ATTACH_IOMMUFD_PT moves an attached device
 * to an HWPT (or, through its IOAS, an automatic HWPT) of another IOAS, that
 * IOAS keeps none of the group's reserved ranges: a replace onto an IOAS that
 * already maps the MSI window or a device's reserved region succeeds instead
 * of failing with EADDRINUSE, IOMMU_IOAS_MAP / ALLOW_IOVAS accept those
 * ranges while the devices are attached, IOMMU_IOAS_IOVA_RANGES reports them
 * usable, and the devices' DMA to the MSI doorbell or to their firmware-owned
 * region is translated into user pages instead. Attaching (not replacing)
 * keeps the reference's behaviour, so only groups moved between IOASes lose
 * their reservations.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached device (the
 * replace path of vfio_iommufd_physical_attach_ioas) runs a copy of the
 * reference's iommufd_device_replace with the inverted test; everything else
 * is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import {
  type IommufdDevice,
  type IommufdGroup,
  type IommufdHwpt,
  type IommufdHwptPaging,
  type IommufdIoas,
  PHYS_ADDR_MAX,
} from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_dec, refcount_inc } from '../../../impl/iommufd/object.ts';
import {
  findHwptPaging,
  iommufdGroupRemoveReservedIova,
  iommufdHwPagetablePut,
  iommufdHwptPagingAlloc,
  iommufdHwptReplaceDevice,
} from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdDeviceIsAttached } from '../../../impl/iommufd/group.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

type ReplaceOut = { readonly errno: number; readonly destroy: IommufdHwpt | null };

/** iommufd_group_setup_msi */
function groupSetupMsi(igroup: IommufdGroup, hwpt: IommufdHwptPaging): void {
  if (igroup.swMsiStart !== PHYS_ADDR_MAX && !hwpt.msiCookie) hwpt.msiCookie = true;
}

/** iommufd_group_do_replace_reserved_iova, with the fault. */
function groupDoReplaceReservedIova(igroup: IommufdGroup, hwpt: IommufdHwptPaging): number {
  const old = findHwptPaging(igroup.hwpt);
  const unwind = new Unwind();
  // THE FAULT: `hwpt_paging->ioas == old_hwpt_paging->ioas` — reserve in the IOAS the group already has, not in a new one.
  if (!old || hwpt.ioas === old.ioas) {
    unwind.onError('err_unresv', () => iommufdGroupRemoveReservedIova(igroup, hwpt));
    for (const cur of igroup.deviceList) {
      const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, cur.dev.resvRegions(), cur.dev);
      if (rc) return unwind.exit(rc);
    }
  }
  groupSetupMsi(igroup, hwpt);
  return unwind.exit(0);
}

/** iommufd_device_do_replace (the reference's, calling the faulty helper). */
function deviceDoReplace(idev: IommufdDevice, hwpt: IommufdHwpt): ReplaceOut {
  const igroup = idev.igroup;
  const paging = findHwptPaging(hwpt);
  if (igroup.hwpt === null) return { errno: -EINVAL, destroy: null };
  if (!iommufdDeviceIsAttached(idev)) return { errno: -EINVAL, destroy: null };
  if (hwpt === igroup.hwpt) return { errno: 0, destroy: null };
  const oldHwpt = igroup.hwpt;
  const unwind = new Unwind();
  if (paging) {
    const rc = groupDoReplaceReservedIova(igroup, paging);
    if (rc) return unwind.exit({ errno: rc, destroy: null });
    unwind.onError('err_unresv', () => iommufdGroupRemoveReservedIova(igroup, paging));
  }
  const rc = iommufdHwptReplaceDevice(idev, hwpt);
  if (rc) return unwind.exit({ errno: rc, destroy: null });
  unwind.exit(0);
  const oldPaging = findHwptPaging(oldHwpt);
  if (oldPaging && (!paging || paging.ioas !== oldPaging.ioas)) iommufdGroupRemoveReservedIova(igroup, oldPaging);
  igroup.hwpt = hwpt;
  const n = igroup.deviceList.length;
  for (let i = 0; i < n; i++) refcount_inc(hwpt);
  for (let i = 0; i < n - 1; i++) refcount_dec(oldHwpt);
  return { errno: 0, destroy: oldHwpt };
}

/** iommufd_device_auto_get_domain for a replace (no immediate attach). */
function autoGetDomain(idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }): ReplaceOut {
  for (const hwpt of [...ioas.hwptList]) {
    if (!hwpt.autoDomain) continue;
    const out = deviceDoReplace(idev, hwpt);
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
  const out = deviceDoReplace(idev, hwpt);
  if (out.errno) return unwind.exit(out);
  unwind.exit(0);
  hwpt.autoDomain = true;
  ptId.value = hwpt.id;
  iommufdObjectFinalize(idev.ictx, hwpt);
  return { errno: 0, destroy: out.destroy };
}

/** iommufd_device_replace → iommufd_device_change_pt(..., iommufd_device_do_replace) */
function deviceReplace(idev: IommufdDevice, ptId: { value: number }): number {
  const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
  if (pt.errno || !pt.value) return pt.errno;
  let out: ReplaceOut;
  switch (pt.value.type) {
    case 'HWPT_NESTED':
    case 'HWPT_PAGING':
      out = deviceDoReplace(idev, pt.value as IommufdHwpt);
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
  return mutantImplementation('replace-resv-ioas-test-inverted', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      // Not attached yet: vfio_iommufd_physical_attach_ioas attaches (the reference's path).
      if (!idev || !vdev.iommufdAttached) return original();
      // vfio_df_ioctl_attach_pt, replace branch of vfio_iommufd_physical_attach_ioas.
      const attach = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const flags = attach.num('flags');
      if (df.profile === '6.12') {
        if (flags) return -EINVAL;
      } else {
        if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
        if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
      }
      const ptId = { value: attach.num('pt_id') };
      const rc = deviceReplace(idev, ptId);
      if (rc) return rc;
      attach.set('pt_id', ptId.value);
      if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) {
        // out_detach: vfio_iommufd_physical_detach_ioas
        iommufdDeviceDetach(idev);
        vdev.iommufdAttached = false;
        return -EFAULT;
      }
      return 0;
    },
  });
}
