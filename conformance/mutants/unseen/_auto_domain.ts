/**
 * Shared by the faults in the automatic-domain search of an attach or replace
 * by IOAS id: a copy of iommufd_device_attach / iommufd_device_replace →
 * iommufd_device_change_pt → iommufd_device_auto_get_domain and
 * iommufd_device_do_attach / do_replace (device.c), with the steps a fault
 * changes as parameters; and vfio_df_ioctl_attach_pt and the selftest's
 * IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) / _REPLACE over them. With the
 * reference's own steps they answer exactly as the reference does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_dec, refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdHwpt, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
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
import { mockDomainHandler } from './_mock_domain.ts';
import { mockDomainReplaceWith } from './_replace.ts';

// ---- device.c: iommufd_device_change_pt and its attach functions ----

type AttachOut = { readonly errno: number; readonly destroy: IommufdHwpt | null };
export type AttachFn = (idev: IommufdDevice, hwpt: IommufdHwpt) => AttachOut;

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

/** The steps of the search a fault may change; each one not given is the reference's. */
export interface AutoDomainSteps {
  /** `immediate_attach = do_attach == iommufd_device_do_attach`: whether a new automatic HWPT is attached inside its allocation. */
  readonly immediateAttach?: (attach: AttachFn, fns: { readonly doAttach: AttachFn; readonly doReplace: AttachFn }) => boolean;
  /** Whether an automatic HWPT that refused the device with EINVAL keeps the reference iommufd_lock_obj took (the reference puts it). */
  readonly keepRefOnEinval?: boolean;
  /** The errno of an automatic HWPT's refusal that sends the search on to the next: the drivers' "incompatible", -EINVAL (-EMEDIUMTYPE before 6.3). */
  readonly incompatible?: number;
  /** An incompatible HWPT ends the search (break) instead of sending it on to the next (continue): a new automatic HWPT is made. */
  readonly stopAtIncompatible?: boolean;
}

/** iommufd_device_auto_get_domain over the given steps. */
function autoGetDomain(steps: AutoDomainSteps, idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }, attach: AttachFn): AttachOut {
  const immediateAttach = steps.immediateAttach ? steps.immediateAttach(attach, { doAttach, doReplace }) : attach === doAttach;
  for (const hwpt of [...ioas.hwptList]) {
    if (!hwpt.autoDomain) continue;
    // iommufd_lock_obj(&hwpt->obj): a users reference while the HWPT is tried.
    refcount_inc(hwpt);
    const out = attach(idev, hwpt);
    if (out.errno) {
      const incompatible = out.errno === (steps.incompatible ?? -EINVAL);
      if (incompatible && steps.keepRefOnEinval) continue;
      refcount_dec(hwpt); // iommufd_put_object
      if (incompatible && steps.stopAtIncompatible) break;
      if (incompatible) continue;
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
function changePt(steps: AutoDomainSteps, idev: IommufdDevice, ptId: { value: number }, attach: AttachFn): number {
  const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
  if (pt.errno || !pt.value) return pt.errno;
  let out: AttachOut;
  switch (pt.value.type) {
    case 'HWPT_NESTED':
    case 'HWPT_PAGING':
      out = attach(idev, pt.value as IommufdHwpt);
      break;
    case 'IOAS':
      out = autoGetDomain(steps, idev, pt.value as IommufdIoas, ptId, attach);
      break;
    default:
      return -EINVAL;
  }
  if (out.errno) return out.errno;
  if (out.destroy) iommufdHwPagetablePut(idev.ictx, out.destroy);
  return 0;
}

/** vfio_iommufd_physical_detach_ioas */
function physicalDetachIoas(vdev: VfioDevice): void {
  const idev = vdev.iommufdDevice;
  if (!idev || !vdev.iommufdAttached) return;
  iommufdDeviceDetach(idev);
  vdev.iommufdAttached = false;
}

/**
 * A mutant whose attach and replace by IOAS id run the given steps
 * (VFIO_DEVICE_ATTACH_IOMMUFD_PT, IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) and
 * _REPLACE); every other command is the reference's.
 */
export function autoDomainMutant(name: string, profile: Profile, steps: AutoDomainSteps): Implementation {
  /** iommufd_device_attach */
  const deviceAttach = (idev: IommufdDevice, ptId: { value: number }): number => {
    const rc = changePt(steps, idev, ptId, doAttach);
    if (rc) return rc;
    refcount_inc(idev);
    return 0;
  };

  /** iommufd_device_replace */
  const deviceReplace = (idev: IommufdDevice, ptId: { value: number }): number => changePt(steps, idev, ptId, doReplace);

  // drivers/vfio: vfio_df_ioctl_attach_pt over them.

  /** vfio_iommufd_physical_attach_ioas */
  const physicalAttachIoas = (vdev: VfioDevice, ptId: { value: number }): number => {
    const idev = vdev.iommufdDevice;
    if (!idev) return -EINVAL;
    const rc = vdev.iommufdAttached ? deviceReplace(idev, ptId) : deviceAttach(idev, ptId);
    if (rc) return rc;
    vdev.iommufdAttached = true;
    return 0;
  };

  /** vfio_df_ioctl_attach_pt (after the argsz rules, which the decode applied). */
  const vfioAttachPt = (df: VfioDeviceFile, attach: UcmdStruct, arg: bigint): number => {
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
  };

  // selftest.c: the mock domain ops over them.

  /** iommufd_test_mock_domain over that attach. */
  const testMockDomain = mockDomainHandler({ attach: deviceAttach });

  /** iommufd_test_mock_domain_replace over that replace. */
  const testMockDomainReplace = mockDomainReplaceWith(deviceReplace);

  return mutantImplementation(name, profile, {
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
