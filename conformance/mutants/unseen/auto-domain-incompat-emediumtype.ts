/**
 * R19-C4 — auto-domain-incompat-emediumtype (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain; 6.12 and 7.3 alike).
 *
 * Attaching a device by IOAS id (VFIO_DEVICE_ATTACH_IOMMUFD_PT with an IOAS
 * pt_id, the selftest's MOCK_DOMAIN, and the replace forms of both) walks the
 * IOAS's automatic HWPTs and takes the first one the device can use. A HWPT
 * that cannot take the device is skipped; the iommu core and every driver
 * answer "this domain is incompatible with this device" with -EINVAL
 * (include/linux/iommu.h: attach_dev "EINVAL: device and domain are
 * incompatible"), and iommufd_hw_pagetable_attach answers -EINVAL too when the
 * device's group already sits on another HWPT. Only other errors end the walk:
 *
 *     destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *     if (IS_ERR(destroy_hwpt)) {
 *             iommufd_put_object(idev->ictx, &hwpt->obj);
 *             /*
 *              * -EINVAL means the domain is incompatible with the
 *              * device. Other error codes should propagate to
 *              * userspace as failure. Success means the domain is
 *              * attached.
 *              *\/
 *             if (PTR_ERR(destroy_hwpt) == -EINVAL)
 *                     continue;
 *             goto out_unlock;
 *     }
 *
 * THE FAULT: the test keeps the errno of the older contract, the one VFIO
 * type1's domain reuse was written against before "iommu: Use EINVAL for
 * incompatible device/domain in ->attach_dev" (v6.3):
 *
 *             if (PTR_ERR(destroy_hwpt) == -EMEDIUMTYPE)
 *                     continue;
 *
 * No driver returns -EMEDIUMTYPE any more, so the first automatic HWPT that
 * refuses the device ends the search: the -EINVAL goes back to userspace and
 * no new automatic HWPT is ever made for it.
 *
 * The attach that created the first automatic HWPT, and every device that can
 * share it, are unaffected; the bug shows only with two objects, over several
 * commands: once an IOAS holds an automatic HWPT made for one device, a device
 * that cannot use that domain can no longer be attached to the IOAS by its id
 * (EINVAL where the kernel makes it its own automatic HWPT and answers its
 * id). Typical cases: devices behind two VT-d units of which one has no snoop
 * control or a narrower address width, a device of another IOMMU driver, a
 * device whose group is already attached elsewhere tried first against a
 * foreign HWPT, or a coherency-enforcing domain made for a capable device and
 * a device that cannot enforce. The same holds for a replace onto the IOAS
 * (the device stays where it was). A VMM that puts all its assigned devices in
 * one IOAS — QEMU's iommufd backend does — cannot start the second one.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT (attach and replace) and the
 * selftest's IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) / _MOCK_DOMAIN_REPLACE go
 * through a copy of iommufd_device_attach / iommufd_device_replace →
 * iommufd_device_change_pt → iommufd_device_auto_get_domain with the faulty
 * test (the mock device op is _mock_domain.ts's over that attach); every other
 * command is the reference's.
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
import { ERRNO } from '../../../spec/uapi/errno.ts';
import { mutantImplementation } from '../harness.ts';
import { mockDomainHandler, type SelftestObj } from './_mock_domain.ts';

/** include/uapi/asm-generic/errno.h: EMEDIUMTYPE (Wrong medium type), the pre-6.3 "incompatible domain". */
const EMEDIUMTYPE = ERRNO.EMEDIUMTYPE;

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

/** iommufd_device_auto_get_domain with the faulty "incompatible" errno. */
function autoGetDomain(idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }, attach: AttachFn): AttachOut {
  const immediateAttach = attach === doAttach;
  for (const hwpt of [...ioas.hwptList]) {
    if (!hwpt.autoDomain) continue;
    refcount_inc(hwpt); // iommufd_lock_obj
    const out = attach(idev, hwpt);
    if (out.errno) {
      refcount_dec(hwpt); // iommufd_put_object
      // THE FAULT: -EMEDIUMTYPE where the kernel's contract is -EINVAL.
      if (out.errno === -EMEDIUMTYPE) continue;
      return out;
    }
    ptId.value = hwpt.id;
    refcount_dec(hwpt); // iommufd_put_object
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

/** vfio_iommufd_physical_attach_ioas */
function physicalAttachIoas(vdev: VfioDevice, ptId: { value: number }): number {
  const idev = vdev.iommufdDevice;
  if (!idev) return -EINVAL;
  const rc = vdev.iommufdAttached ? deviceReplace(idev, ptId) : deviceAttach(idev, ptId);
  if (rc) return rc;
  vdev.iommufdAttached = true;
  return 0;
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
  attach.set('pt_id', ptId.value);
  if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) {
    // out_detach: vfio_iommufd_physical_detach_ioas
    const idev = df.device.iommufdDevice;
    if (idev && df.device.iommufdAttached) {
      iommufdDeviceDetach(idev);
      df.device.iommufdAttached = false;
    }
    return -EFAULT;
  }
  return 0;
}

/** iommufd_test_mock_domain_replace over the faulty replace. */
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
  const testMockDomain = mockDomainHandler({ attach: deviceAttach });
  return mutantImplementation('auto-domain-incompat-emediumtype', profile, {
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
