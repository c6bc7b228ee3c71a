/**
 * Shared by the faults in the replace path of an attached device: a copy of
 * iommufd_device_replace → iommufd_device_change_pt(do_replace), with
 * iommufd_device_auto_get_domain in replace mode and
 * iommufd_device_do_replace (device.c), whose steps are parameters; and the
 * replace branch of vfio_df_ioctl_attach_pt (vfio_iommufd_physical_attach_ioas
 * on an attached device) and the selftest's IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE
 * over it. With the reference's own steps they answer exactly as the
 * reference does.
 */
import { EINVAL } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_dec, refcount_inc, type Result } from '../../../impl/iommufd/object.ts';
import { iommufdUcmdRespond, type IommufdCtx, type IommufdDevice, type IommufdGroup, type IommufdHwpt, type IommufdHwptPaging, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceIsAttached } from '../../../impl/iommufd/group.ts';
import { findHwptPaging, iommufdGroupDoReplaceReservedIova, iommufdGroupRemoveReservedIova, iommufdHwPagetablePut, iommufdHwptPagingAlloc, iommufdHwptReplaceDevice } from '../../../impl/iommufd/hw_pagetable.ts';
import type { MutantHooks } from '../harness.ts';
import { attachPtIoctl, type DeviceChangePt } from './_attach.ts';
import type { SelftestObj } from './_mock_domain.ts';

type ReplaceOut = { readonly errno: number; readonly destroy: IommufdHwpt | null };

/** The steps of the replace path a fault may replace; each one not given is the reference's. */
export interface ReplaceSteps {
  /** iommufd_group_do_replace_reserved_iova: the group's reserved regions in the new HWPT's IOAS. */
  readonly replaceReservedIova?: (igroup: IommufdGroup, hwpt: IommufdHwptPaging) => number;
  /** iommufd_device_auto_get_domain's out_abort when the replace onto a new automatic HWPT fails. */
  readonly abortFailedAuto?: boolean;
  /** After a move to another IOAS: the group's reserved regions taken out of the old HWPT's IOAS (iommufd_group_remove_reserved_iova). */
  readonly removeOldReservedIova?: (idev: IommufdDevice, oldPaging: IommufdHwptPaging) => void;
  /** Whether the replace left the old HWPT's IOAS, so its regions go (`!hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas`). */
  readonly leftOldIoas?: (paging: IommufdHwptPaging | null, oldPaging: IommufdHwptPaging) => boolean;
  /** iommufd_hwpt_paging_alloc of a new automatic HWPT, not attached yet (immediate_attach false). */
  readonly allocAuto?: (ictx: IommufdCtx, ioas: IommufdIoas, idev: IommufdDevice) => Result<IommufdHwptPaging>;
  /** igroup->hwpt is set before iommufd_hwpt_replace_device, and left there when it fails (the kernel's: after it succeeds). */
  readonly publishesEarly?: boolean;
  /** A failed iommufd_hwpt_replace_device goes to err_unresv (the kernel's), which takes the group's regions back out of the new HWPT's IOAS. */
  readonly unresvOnFailedReplace?: boolean;
  /** The group's references move from the old HWPT to the new one: one per attached device on the new, all but one off the old (the caller puts the last). */
  readonly moveRefs?: (idev: IommufdDevice, hwpt: IommufdHwpt, oldHwpt: IommufdHwpt) => void;
}

/** The reference's move of the group's references (num_devices = the devices iommufd attached: igroup->device_list). */
function moveGroupRefs(idev: IommufdDevice, hwpt: IommufdHwpt, oldHwpt: IommufdHwpt): void {
  const n = idev.igroup.deviceList.length;
  for (let i = 0; i < n; i++) refcount_inc(hwpt);
  for (let i = 0; i < n - 1; i++) refcount_dec(oldHwpt);
}

/** A copy of iommufd_device_replace over the given steps: 0 or a negative errno; `ptId` gets the HWPT the device is in. */
export function deviceReplaceWith({
  replaceReservedIova = iommufdGroupDoReplaceReservedIova,
  abortFailedAuto = true,
  removeOldReservedIova = (idev, oldPaging) => iommufdGroupRemoveReservedIova(idev.igroup, oldPaging),
  leftOldIoas = (paging, oldPaging) => !paging || paging.ioas !== oldPaging.ioas,
  allocAuto = (ictx, ioas, idev) => iommufdHwptPagingAlloc(ictx, ioas, idev, 0, false, undefined),
  publishesEarly = false,
  unresvOnFailedReplace = true,
  moveRefs = moveGroupRefs,
}: ReplaceSteps): (idev: IommufdDevice, ptId: { value: number }) => number {
  // iommufd_device_do_replace
  const doReplace = (idev: IommufdDevice, hwpt: IommufdHwpt): ReplaceOut => {
    const igroup = idev.igroup;
    const paging = findHwptPaging(hwpt);
    if (igroup.hwpt === null) return { errno: -EINVAL, destroy: null };
    if (!iommufdDeviceIsAttached(idev)) return { errno: -EINVAL, destroy: null };
    if (hwpt === igroup.hwpt) return { errno: 0, destroy: null };
    const oldHwpt = igroup.hwpt;
    const unwind = new Unwind();
    if (paging) {
      const rc = replaceReservedIova(igroup, paging);
      if (rc) return unwind.exit({ errno: rc, destroy: null });
      if (unresvOnFailedReplace) unwind.onError('err_unresv', () => iommufdGroupRemoveReservedIova(igroup, paging));
    }
    if (publishesEarly) igroup.hwpt = hwpt;
    const rc = iommufdHwptReplaceDevice(idev, hwpt);
    if (rc) return unwind.exit({ errno: rc, destroy: null });
    unwind.exit(0);
    const oldPaging = findHwptPaging(oldHwpt);
    if (oldPaging && leftOldIoas(paging, oldPaging)) removeOldReservedIova(idev, oldPaging);
    igroup.hwpt = hwpt;
    moveRefs(idev, hwpt, oldHwpt);
    return { errno: 0, destroy: oldHwpt };
  };
  // iommufd_device_auto_get_domain in replace mode (no immediate attach)
  const autoGetDomain = (idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }): ReplaceOut => {
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
    const r = allocAuto(idev.ictx, ioas, idev);
    if (r.errno || !r.value) return { errno: r.errno, destroy: null };
    const hwpt = r.value;
    const unwind = new Unwind();
    if (abortFailedAuto) unwind.onError('out_abort', () => iommufdObjectAbortAndDestroy(idev.ictx, hwpt));
    const out = doReplace(idev, hwpt);
    if (out.errno) return unwind.exit(out);
    unwind.exit(0);
    hwpt.autoDomain = true;
    ptId.value = hwpt.id;
    iommufdObjectFinalize(idev.ictx, hwpt);
    return { errno: 0, destroy: out.destroy };
  };
  return (idev, ptId) => {
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
  };
}

/**
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT of an attached device over the given
 * iommufd_device_replace (vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas's
 * replace branch); a first attach, and every other ioctl, is the reference's.
 */
export function replaceAttachIoctl(deviceReplace: DeviceChangePt): NonNullable<MutantHooks['vfioIoctl']> {
  return attachPtIoctl({ replace: deviceReplace });
}

/**
 * selftest.c iommufd_test_mock_domain_replace over the given iommufd_device_replace; without
 * `answersPtId` the HWPT the replace chose is not written back into mock_domain_replace.pt_id.
 */
export function mockDomainReplaceWith(deviceReplace: DeviceChangePt, answersPtId = true): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx: ictx } = ucmd;
    const r = iommufdGetObject<SelftestObj>(ictx, cmd.num('id'), 'SELFTEST');
    if (r.errno || !r.value) return r.errno;
    const idev = r.value.idev;
    if (!idev) return -EINVAL;
    const ptId = { value: cmd.num('mock_domain_replace.pt_id') };
    const rc = deviceReplace(idev, ptId);
    if (rc) return rc;
    if (answersPtId) cmd.set('mock_domain_replace.pt_id', ptId.value);
    return iommufdUcmdRespond(ucmd);
  };
}
