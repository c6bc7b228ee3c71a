/**
 * auto-replace-fail-skips-abort (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain, replace mode).
 *
 * When a device that is already attached is moved to an IOAS
 * (iommufd_device_replace with an IOAS pt_id, i.e. a second
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT or IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) and no
 * automatic HWPT of that IOAS takes the device, a new one is allocated
 * without immediate attach and then attached through do_replace:
 *
 *     hwpt_paging = iommufd_hwpt_paging_alloc(idev->ictx, ioas, idev, pasid,
 *                                             0, immediate_attach, NULL);
 *     ...
 *     if (!immediate_attach) {
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt))
 *                     goto out_abort;
 *     }
 *     ...
 * out_abort:
 *     iommufd_object_abort_and_destroy(idev->ictx, &hwpt->obj);
 * out_unlock:
 *     mutex_unlock(&ioas->mutex);
 *
 * THE FAULT: the failed do_replace jumps to out_unlock (the label the
 * allocation failure above uses), so the new HWPT is never aborted. By then
 * iommufd_hwpt_paging_alloc has taken a users reference on the IOAS,
 * iopt_table_add_domain has mapped every area of the IOAS into the new domain
 * (pinning and charging the pages if it was the IOAS's first domain) and the
 * HWPT sits on ioas->hwpt_list with its object id reserved but never
 * finalized.
 *
 * do_replace fails after the allocation when the device's (or a group
 * sibling's) reserved regions collide with a mapping of the target IOAS
 * (EADDRINUSE), when the group's devices refuse the new domain
 * (a mixed-coherency group: EINVAL), or on the attach handle's allocation.
 *
 * Consequence for a user: the failed replace returns its errno and the device
 * stays where it was, but the pages mapped in the target IOAS are now pinned
 * (and charged) by a domain nobody can name; the IOAS can never be destroyed
 * (EBUSY: the invisible HWPT holds it), so closing every fd leaves it, its
 * mappings, their pins and the memlock/pinned_vm charge behind; and the
 * reserved object id is skipped by every later allocation of the context.
 *
 * Applied as: the reference's iommufd_device_replace (change_pt, the
 * automatic-domain search and do_replace, copied from impl/iommufd/device.ts)
 * with the label changed, for the two callers that replace through an IOAS:
 * the VFIO cdev ATTACH of an attached device and the selftest's
 * MOCK_DOMAIN_REPLACE. Everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { iommufdGetObject, iommufdObjectFinalize, refcount_dec, refcount_inc } from '../../../impl/iommufd/object.ts';
import { iommufdUcmdRespond, type IommufdDevice, type IommufdHwpt, type IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceIsAttached } from '../../../impl/iommufd/group.ts';
import {
  findHwptPaging,
  iommufdGroupDoReplaceReservedIova,
  iommufdGroupRemoveReservedIova,
  iommufdHwPagetablePut,
  iommufdHwptPagingAlloc,
  iommufdHwptReplaceDevice,
} from '../../../impl/iommufd/hw_pagetable.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';

type AttachOut = { readonly errno: number; readonly destroy: IommufdHwpt | null };

/** iommufd_device_do_replace (as the reference). */
function doReplace(idev: IommufdDevice, hwpt: IommufdHwpt): AttachOut {
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
}

/** iommufd_device_auto_get_domain in replace mode (do_attach = do_replace, no immediate attach). */
function autoGetDomainReplace(idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }): AttachOut {
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
  const out = doReplace(idev, hwpt);
  // THE FAULT: `goto out_unlock` — iommufd_object_abort_and_destroy(idev->ictx, &hwpt->obj) is skipped.
  if (out.errno) return out;
  hwpt.autoDomain = true;
  ptId.value = hwpt.id;
  iommufdObjectFinalize(idev.ictx, hwpt);
  return { errno: 0, destroy: out.destroy };
}

/** iommufd_device_replace → iommufd_device_change_pt(do_replace). */
function deviceReplace(idev: IommufdDevice, ptId: { value: number }): number {
  const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
  if (pt.errno || !pt.value) return pt.errno;
  let out: AttachOut;
  switch (pt.value.type) {
    case 'HWPT_NESTED':
    case 'HWPT_PAGING':
      out = doReplace(idev, pt.value as IommufdHwpt);
      break;
    case 'IOAS':
      out = autoGetDomainReplace(idev, pt.value as IommufdIoas, ptId);
      break;
    default:
      return -EINVAL;
  }
  if (out.errno) return out.errno;
  if (out.destroy) iommufdHwPagetablePut(idev.ictx, out.destroy);
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('auto-replace-fail-skips-abort', profile, {
    // vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas on an attached device: iommufd_device_replace.
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || !vdev.iommufdAttached) return original();
      const attach = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const flags = attach.num('flags');
      if (df.profile === '6.12') {
        if (flags) return -EINVAL;
      } else {
        if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
        if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
      }
      // Only a replace through an IOAS reaches the automatic-domain path (a lookup without a fail-nth step).
      if (idev.ictx.objects.load(attach.num('pt_id'))?.type !== 'IOAS') return original();
      const ptId = { value: attach.num('pt_id') };
      const rc = deviceReplace(idev, ptId);
      if (rc) return rc;
      vdev.iommufdAttached = true;
      attach.set('pt_id', ptId.value);
      if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) {
        // out_detach: vfio_iommufd_physical_detach_ioas
        iommufdDeviceDetach(idev);
        vdev.iommufdAttached = false;
        return -EFAULT;
      }
      return 0;
    },
    handlers: {
      // iommufd_test_mock_domain_replace
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return original(ucmd);
        const sobj = ctx.objects.load(cmd.num('id'));
        const ptObj = ctx.objects.load(cmd.num('mock_domain_replace.pt_id'));
        if (sobj?.type !== 'SELFTEST' || ptObj?.type !== 'IOAS') return original(ucmd);
        const r = iommufdGetObject<{ idev: IommufdDevice | null } & typeof sobj>(ctx, cmd.num('id'), 'SELFTEST');
        if (r.errno || !r.value) return r.errno;
        const idev = r.value.idev;
        if (!idev) return -EINVAL;
        const ptId = { value: cmd.num('mock_domain_replace.pt_id') };
        const rc = deviceReplace(idev, ptId);
        if (rc) return rc;
        cmd.set('mock_domain_replace.pt_id', ptId.value);
        return iommufdUcmdRespond(ucmd);
      },
    },
  });
}
