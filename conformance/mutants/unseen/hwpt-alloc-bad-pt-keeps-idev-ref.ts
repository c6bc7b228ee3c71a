/**
 * hwpt-alloc-bad-pt-keeps-idev-ref (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_alloc).
 *
 * IOMMU_HWPT_ALLOC looks its device up first (iommufd_get_device: a
 * temporary users + shortterm_users reference), then the page table it is
 * to hang off; every exit drops the device again (6.12 and 7.3):
 *
 *     idev = iommufd_get_device(ucmd, cmd->dev_id);
 *     if (IS_ERR(idev))
 *             return PTR_ERR(idev);
 *
 *     pt_obj = iommufd_get_object(ucmd->ictx, cmd->pt_id, IOMMUFD_OBJ_ANY);
 *     if (IS_ERR(pt_obj)) {
 *             rc = -EINVAL;
 *             goto out_put_idev;
 *     }
 *     ...
 * out_put_pt:
 *     iommufd_put_object(ucmd->ictx, pt_obj);
 * out_put_idev:
 *     iommufd_put_object(ucmd->ictx, &idev->obj);
 *     return rc;
 *
 * THE FAULT: the pt_id lookup failure is "simplified" into a plain return
 * (its errno is rewritten to EINVAL anyway, so it looked like the early
 * returns above it):
 *
 *     if (IS_ERR(pt_obj))
 *             return -EINVAL;
 *
 * An IOMMU_HWPT_ALLOC whose pt_id names nothing (an id never used, one
 * already destroyed, a still-reserved one — or the lookup's own
 * iommufd_should_fail) answers EINVAL exactly as before, but the device it
 * named keeps the lookup's reference. Nothing shows until that device is
 * unbound: iommufd_device_unbind's iommufd_object_destroy_user waits for
 * the leaked shortterm reference, times out and WARNs, and the device
 * object stays. Closing its VFIO file then detaches it but leaves it bound:
 * its iommu_group stays owned by the context (another context's bind of
 * any device of the group: EPERM; the same device cannot be bound again),
 * IOMMU_DESTROY of its id stays EBUSY, and the context — which a VFIO
 * device's iommufd_device keeps referenced — is never released after its
 * fd is closed, with every IOAS, HWPT and pinned, charged page it holds.
 * For a selftest mock device the IOMMU_TEST_OP_MOCK_DOMAIN object's
 * destroy goes the same way and the context's release stops at the device.
 *
 * Applied as: IOMMU_HWPT_ALLOC is a copy of the reference's
 * iommufd_hwpt_alloc with THE FAULT (the leaked lookup is one more users
 * reference on the device); the unbind of a device carrying such a
 * reference (the VFIO file's release, the selftest object's destroy)
 * follows the kernel's WARN path instead of the reference's assertion.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_inc, type IommufdObject } from '../../../impl/iommufd/object.ts';
import { iommufdGetDevice, iommufdUcmdRespond, type IommufdCtx, type IommufdDevice, type IommufdHwpt, type IommufdHwptPaging, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdHwptPagingAlloc } from '../../../impl/iommufd/hw_pagetable.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { HwptAllocData, SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { dropFileBinding, releaseInstead } from './_vfio_release.ts';

/** Lookup references the faulty IOMMU_HWPT_ALLOC left on each device. */
const leaked = new WeakMap<IommufdDevice, number>();

/** struct iommu_user_data, read from the calling process. */
function userDataOf(ictx: IommufdCtx, type: number, len: number, uptr: bigint): HwptAllocData {
  return { type, len, read: () => ictx.proc.copyFromUser(uptr, len) ?? undefined };
}

/** iommufd_hwpt_nested_alloc's checks before the driver (as the reference's; the driver step is EOPNOTSUPP). */
function nestedAllocChecks(parent: IommufdHwptPaging, idev: IommufdDevice, flags: number, dataLen: number): number {
  const valid = idev.ictx.profile === '6.12' ? IOMMU_HWPT_FAULT_ID_VALID : IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
  if (flags & ~valid || !dataLen) return -EOPNOTSUPP;
  if (parent.autoDomain || !parent.nestParent || parent.domain?.owner !== idev.dev.iommu.driver) return -EINVAL;
  return -EOPNOTSUPP;
}

/** iommufd_hwpt_alloc with THE FAULT. */
function hwptAlloc(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const dataType = cmd.num('data_type');
  const dataLen = cmd.num('data_len');
  if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return -EINVAL;
  const flags = cmd.num('flags');

  const idevR = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (idevR.errno || !idevR.value) return idevR.errno;
  const idev = idevR.value;

  const ptR = iommufdGetObject(ictx, cmd.num('pt_id'), 'ANY');
  if (ptR.errno || !ptR.value) {
    // THE FAULT: return without iommufd_put_object(ucmd->ictx, &idev->obj).
    refcount_inc(idev);
    leaked.set(idev, (leaked.get(idev) ?? 0) + 1);
    return -EINVAL;
  }
  const pt = ptR.value;

  const userData = dataLen ? userDataOf(ictx, dataType, dataLen, cmd.big('data_uptr')) : undefined;
  let hwpt: IommufdHwpt;
  if (pt.type === 'IOAS') {
    const r = iommufdHwptPagingAlloc(ictx, pt as IommufdIoas, idev, flags, false, userData);
    if (r.errno || !r.value) return r.errno;
    hwpt = r.value;
  } else if (pt.type === 'HWPT_PAGING') {
    return nestedAllocChecks(pt as IommufdHwptPaging, idev, flags, dataLen);
  } else {
    return -EINVAL;
  }

  const unwind = new Unwind();
  unwind.onError('out_hwpt', () => iommufdObjectAbortAndDestroy(ictx, hwpt));
  if (flags & IOMMU_HWPT_FAULT_ID_VALID) {
    const f = iommufdGetObject(ictx, cmd.num('fault_id'), 'FAULT');
    if (f.errno || !f.value) return unwind.exit(f.errno);
    hwpt.fault = f.value;
    refcount_inc(f.value);
  }
  cmd.set('out_hwpt_id', hwpt.id);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  iommufdObjectFinalize(ictx, hwpt);
  return unwind.exit(0);
}

/**
 * iommufd_device_unbind → iommufd_object_destroy_user on a device holding a
 * leaked lookup: iommufd_object_dec_wait_shortterm times out, the caller's
 * (driver's) users reference is put back (dropped), WARN_ON(ret); the
 * object stays, held by the leaked lookup.
 */
function unbindLeaks(idev: IommufdDevice): void {
  idev.users--;
  idev.ictx.warnings.push(`iommufd_object_destroy_user: device ${idev.id} still referenced (shortterm wait timed out); left in place`);
}

/** vfio_device_fops_release → vfio_df_unbind_iommufd for a device carrying a leaked lookup. */
function releaseLeakingDevice(df: VfioDeviceFile): boolean {
  const vdev = df.device;
  const idev = vdev.iommufdDevice;
  if (!df.accessGranted || vdev.openCount !== 1 || !idev || !leaked.get(idev)) return false;
  // vfio_df_close → vfio_iommufd_physical_unbind
  if (vdev.iommufdAttached) {
    iommufdDeviceDetach(idev);
    vdev.iommufdAttached = false;
  }
  unbindLeaks(idev);
  vdev.iommufdDevice = null;
  vdev.openCount--;
  // the file's own context reference
  dropFileBinding(df);
  return true;
}

/** struct selftest_obj as the reference stores it. */
type SelftestObj = IommufdObject & { mockDev: SimDevice | null; idev: IommufdDevice | null };

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-bad-pt-keeps-idev-ref', profile, {
    handlers: { IOMMU_HWPT_ALLOC: (ucmd) => hwptAlloc(ucmd) },
    object: (obj) => {
      if (obj.type !== 'SELFTEST') return;
      const sobj = obj as SelftestObj;
      // iommufd_selftest_destroy: detach, unbind (WARN path with a leaked lookup), mock_dev_destroy
      patchOwn(sobj as IommufdObject, 'destroy', (destroy) => () => {
        const idev = sobj.idev;
        if (!idev || !leaked.get(idev)) return destroy();
        iommufdDeviceDetach(idev);
        unbindLeaks(idev);
        if (sobj.mockDev) sobj.mockDev.machine.mockDevDestroy(sobj.mockDev);
      });
    },
    process: releaseInstead(releaseLeakingDevice),
  });
}
