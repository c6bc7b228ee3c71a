/**
 * auto-domain-immediate-attach-inverted (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain).
 *
 * When a device is attached (or an attached device is moved) to an IOAS and
 * no automatic HWPT of that IOAS takes it, a new one is allocated. How depends
 * on the caller: an attach allocates it in immediate-attach mode (the group is
 * attached inside iommufd_hwpt_paging_alloc, before the domain is filled,
 * which drivers that finish a domain only at attach need); a replace cannot
 * (iommufd_hw_pagetable_attach refuses a group that is already attached to
 * another HWPT), so it allocates the HWPT unattached and moves the group with
 * do_attach = iommufd_device_do_replace afterwards. The kernel (6.12 and 7.3):
 *
 *     bool immediate_attach = do_attach == iommufd_device_do_attach;
 *     ...
 *     hwpt_paging = iommufd_hwpt_paging_alloc(idev->ictx, ioas, idev, pasid,
 *                                             0, immediate_attach, NULL);
 *     ...
 *     if (!immediate_attach) {
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt))
 *                     goto out_abort;
 *     } else {
 *             destroy_hwpt = NULL;
 *     }
 *
 * THE FAULT: the mode is derived from the wrong attach function,
 *
 *     bool immediate_attach = do_attach == iommufd_device_do_replace;
 *
 * Attach now allocates the HWPT unattached, fills the domain with the whole
 * IOAS, and only then attaches the group through do_attach (a slower path
 * that ends in the same state, with the IOAS's pins and charges taken before
 * the attach can refuse). Replace now asks iommufd_hwpt_paging_alloc to
 * attach the already-attached device immediately: iommufd_hw_pagetable_attach
 * sees igroup->hwpt != NULL && igroup->hwpt != hwpt and answers -EINVAL, the
 * new HWPT is aborted, and the replace fails.
 *
 * Consequence (several commands, two IOASes): a device attached to one IOAS
 * can no longer be moved to another IOAS (or to an IOAS whose automatic HWPTs
 * are all incompatible with it) by IOAS id: VFIO_DEVICE_ATTACH_IOMMUFD_PT on
 * the attached device, or IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, fails with
 * EINVAL and the device stays where it was — DMA keeps going through the old
 * IOAS's mappings that the VMM believes it left. The same replace works when
 * the target IOAS already has an automatic HWPT the device accepts, or when
 * the user names a HWPT, so it only shows with the right history. A
 * first attach by IOAS id still works; where both steps would fail (a
 * reserved region of the device over a mapping, and a pin over
 * RLIMIT_MEMLOCK) it answers the fill's errno instead of the attach's.
 *
 * Applied on both users of iommufd_device_attach / _replace: the VFIO cdev's
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT (vfio_df_ioctl_attach_pt →
 * vfio_iommufd_physical_attach_ioas) and the selftest's
 * IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) / _MOCK_DOMAIN_REPLACE, each a copy of the
 * reference's whose iommufd_device_auto_get_domain computes immediate_attach
 * the faulty way.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_dec, refcount_inc } from '../../../impl/iommufd/object.ts';
import { type IommufdDevice, type IommufdHwpt, type IommufdIoas, iommufdUcmdRespond, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import { iommufdDeviceIsAttached } from '../../../impl/iommufd/group.ts';
import {
  findHwptPaging,
  iommufdGroupDoReplaceReservedIova,
  iommufdGroupRemoveReservedIova,
  iommufdHwPagetableAttach,
  iommufdHwPagetablePut,
  iommufdHwptPagingAlloc,
  iommufdHwptReplaceDevice,
} from '../../../impl/iommufd/hw_pagetable.ts';
import { type VfioDevice, type VfioDeviceFile, vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation } from '../harness.ts';
import { mockDomainHandler, type SelftestObj } from './_mock_domain.ts';

// ---- device.c: iommufd_device_change_pt and its attach functions (the reference's, but for the fault) ----

type AttachOut = { readonly errno: number; readonly destroy: IommufdHwpt | null };
type AttachFn = (idev: IommufdDevice, hwpt: IommufdHwpt) => AttachOut;

/** iommufd_device_do_attach */
const doAttach: AttachFn = (idev, hwpt) => ({ errno: iommufdHwPagetableAttach(hwpt, idev), destroy: null });

/** iommufd_device_do_replace (as the reference's device.ts). */
const doReplace: AttachFn = (idev, hwpt) => {
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
  if (oldPaging && (!paging || paging.ioas !== oldPaging.ioas)) iommufdGroupRemoveReservedIova(igroup, oldPaging);
  igroup.hwpt = hwpt;
  const n = igroup.deviceList.length;
  for (let i = 0; i < n; i++) refcount_inc(hwpt);
  for (let i = 0; i < n - 1; i++) refcount_dec(oldHwpt);
  return { errno: 0, destroy: oldHwpt };
};

/** iommufd_device_auto_get_domain, with the fault. */
function autoGetDomain(idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }, attach: AttachFn): AttachOut {
  // THE FAULT: `do_attach == iommufd_device_do_replace` for `do_attach == iommufd_device_do_attach`.
  const immediateAttach = attach === doReplace;
  for (const hwpt of [...ioas.hwptList]) {
    if (!hwpt.autoDomain) continue;
    const out = attach(idev, hwpt);
    if (out.errno) {
      if (out.errno === -EINVAL) continue;
      return out;
    }
    ptId.value = hwpt.id;
    return out;
  }
  const r = iommufdHwptPagingAlloc(idev.ictx, ioas, idev, 0, immediateAttach, undefined);
  if (r.errno || !r.value) return { errno: r.errno, destroy: null };
  const hwpt = r.value;
  const unwind = new Unwind();
  unwind.onError('out_abort', () => iommufdObjectAbortAndDestroy(idev.ictx, hwpt));
  let destroy: IommufdHwpt | null = null;
  if (!immediateAttach) {
    const out = attach(idev, hwpt);
    if (out.errno) return unwind.exit(out);
    destroy = out.destroy;
  }
  unwind.exit(0);
  hwpt.autoDomain = true;
  ptId.value = hwpt.id;
  iommufdObjectFinalize(idev.ictx, hwpt);
  return { errno: 0, destroy };
}

/** iommufd_device_change_pt */
function changePt(idev: IommufdDevice, ptId: { value: number }, attach: AttachFn): number {
  const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
  if (pt.errno || !pt.value) return pt.errno;
  let out: AttachOut;
  switch (pt.value.type) {
    case 'HWPT_NESTED':
    case 'HWPT_PAGING':
      out = attach(idev, pt.value as IommufdHwpt);
      break;
    case 'IOAS':
      out = autoGetDomain(idev, pt.value as IommufdIoas, ptId, attach);
      break;
    default:
      return -EINVAL;
  }
  if (out.errno) return out.errno;
  if (out.destroy) iommufdHwPagetablePut(idev.ictx, out.destroy);
  return 0;
}

/** iommufd_device_attach */
function deviceAttach(idev: IommufdDevice, ptId: { value: number }): number {
  const rc = changePt(idev, ptId, doAttach);
  if (rc) return rc;
  refcount_inc(idev);
  return 0;
}

/** iommufd_device_replace */
function deviceReplace(idev: IommufdDevice, ptId: { value: number }): number {
  return changePt(idev, ptId, doReplace);
}

// ---- drivers/vfio: vfio_df_ioctl_attach_pt over the faulty attach/replace ----

/** vfio_iommufd_physical_attach_ioas */
function physicalAttachIoas(vdev: VfioDevice, ptId: { value: number }): number {
  const idev = vdev.iommufdDevice;
  if (!idev) return -EINVAL;
  const rc = vdev.iommufdAttached ? deviceReplace(idev, ptId) : deviceAttach(idev, ptId);
  if (rc) return rc;
  vdev.iommufdAttached = true;
  return 0;
}

/** vfio_iommufd_physical_detach_ioas */
function physicalDetachIoas(vdev: VfioDevice): void {
  const idev = vdev.iommufdDevice;
  if (!idev || !vdev.iommufdAttached) return;
  iommufdDeviceDetach(idev);
  vdev.iommufdAttached = false;
}

/** vfio_df_ioctl_attach_pt (after the argsz rules, which the decode applied). */
function vfioAttachPt(df: VfioDeviceFile, attach: UcmdStruct, arg: bigint): number {
  const flags = attach.num('flags');
  if (df.profile === '6.12') {
    if (flags) return -EINVAL;
  } else {
    if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
    if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
  }
  const ptId = { value: attach.num('pt_id') };
  const rc = physicalAttachIoas(df.device, ptId);
  if (rc) return rc;
  const unwind = new Unwind();
  unwind.onError('out_detach', () => physicalDetachIoas(df.device));
  attach.set('pt_id', ptId.value);
  if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) return unwind.exit(-EFAULT);
  return unwind.exit(0);
}

// ---- selftest.c: the mock domain ops over the faulty attach/replace ----

/** iommufd_test_mock_domain over the faulty attach. */
const testMockDomain = mockDomainHandler({ attach: deviceAttach });

/** iommufd_test_mock_domain_replace */
function testMockDomainReplace(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  const r = iommufdGetObject<SelftestObj>(ictx, cmd.num('id'), 'SELFTEST');
  if (r.errno || !r.value) return r.errno;
  const idev = r.value.idev;
  if (!idev) return -EINVAL;
  const ptId = { value: cmd.num('mock_domain_replace.pt_id') };
  const rc = deviceReplace(idev, ptId);
  if (rc) return rc;
  cmd.set('mock_domain_replace.pt_id', ptId.value);
  return iommufdUcmdRespond(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('auto-domain-immediate-attach-inverted', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) return testMockDomain(ucmd);
        if (op === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return testMockDomainReplace(ucmd);
        return original(ucmd);
      },
    },
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      return vfioAttachPt(df, new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes), arg);
    },
  });
}
