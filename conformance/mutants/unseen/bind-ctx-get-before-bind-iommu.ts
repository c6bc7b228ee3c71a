/**
 * bind-ctx-get-before-bind-iommu (drivers/iommu/iommufd/device.c
 * iommufd_device_bind, 7.3; reached from VFIO_DEVICE_BIND_IOMMUFD through
 * vfio_df_open → vfio_iommufd_physical_bind).
 *
 * A device bound for a VFIO driver holds a reference on its iommufd_ctx (the
 * iommufd file) until iommufd_device_destroy drops it. 7.3 allocates the
 * device object first and fills it in afterwards, so iommufd_device_destroy
 * also serves as the unwind of a bind that failed half-way, and returns
 * early for a device that never got its igroup. The ctx reference must
 * therefore be taken only once nothing can fail any more:
 *
 *     idev = iommufd_object_alloc(ictx, idev, IOMMUFD_OBJ_DEVICE);
 *     ...
 *     idev->ictx = ictx;
 *     idev->dev = dev;
 *
 *     if (!iommufd_device_is_noiommu(idev))
 *             rc = iommufd_bind_iommu(idev);
 *     else
 *             rc = iommufd_bind_noiommu(idev);
 *     if (rc)
 *             goto err_out;
 *
 *     /*
 *      * Take a ctx reference after bind succeeds. This must happen here
 *      * so that iommufd_device_destroy() can handle partial initialization
 *      *\/
 *     if (!iommufd_selftest_is_mock_dev(dev))
 *             iommufd_ctx_get(ictx);
 *     ...
 * err_out:
 *     iommufd_object_abort_and_destroy(ictx, &idev->obj);
 *
 * while iommufd_device_destroy begins with
 *
 *     /* igroup is NULL when destroy called during bind error cleanup *\/
 *     if (!idev->igroup)
 *             return;
 *     ...
 *     if (!iommufd_selftest_is_mock_dev(idev->dev))
 *             iommufd_ctx_put(idev->ictx);
 *
 * THE FAULT: the ctx reference is taken with the other field set-up, right
 * after `idev->dev = dev;` (where 6.12, which claims the group before it
 * allocates the object, has it), i.e. before iommufd_bind_iommu. When that
 * fails, abort_and_destroy runs iommufd_device_destroy, which returns at the
 * igroup test: the reference is never dropped.
 *
 * iommufd_bind_iommu fails on ordinary input: the device's iommu_group is
 * already owned by another iommufd (EPERM: the sibling of a multi-device
 * group bound elsewhere), the group is attached outside iommufd (EBUSY), or
 * the igroup allocation fails (ENOMEM). The bind answers that errno, as it
 * must, and nothing else shows then.
 *
 * Consequence (later, on another object): the iommufd named in the refused
 * bind can never be released. Closing its fd, and every device fd, leaves
 * iommufd_fops_release un-run: its IOASes, HWPTs, accesses and mock devices
 * live on, every page their domains and accesses pinned stays pinned, and the
 * RLIMIT_MEMLOCK charge (user_struct->locked_vm, or mm->locked_vm in the MM
 * mode of /dev/vfio/vfio) is never given back — one failed bind attempt per
 * VM start (e.g. QEMU probing a device whose group a previous instance still
 * holds) leaks a whole context.
 *
 * Applied as (7.3 only; 6.12's bind is the reference's): VFIO_DEVICE_BIND_IOMMUFD
 * runs a copy of the reference's vfio_df_ioctl_bind_iommufd whose
 * iommufd_device_bind takes the iommufd file reference before
 * iommufd_bind_iommu and, on its failure, unwinds without dropping it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdObjectAbort, iommufdObjectAlloc, iommufdObjectFinalize, refcount_inc, type Result } from '../../../impl/iommufd/object.ts';
import type { IommufdCtx, IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdGetGroup, iommufdPutGroup } from '../../../impl/iommufd/group.ts';
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation } from '../harness.ts';
import { bindHook } from './_cdev_bind.ts';

/** iommufd_device_destroy (as the reference's device.ts). */
function deviceDestroy(idev: IommufdDevice): void {
  idev.dev.machine.releaseDmaOwner(idev.dev);
  iommufdPutGroup(idev.igroup);
  if (!idev.dev.isMock) idev.ictx.file?.put();
}

/** iommufd_bind_iommu (as the reference's device.ts). */
function bindIommu(ictx: IommufdCtx, idev: IommufdDevice): number {
  const dev = idev.dev;
  const machine = dev.machine;
  if (!machine.capable(dev, 'CACHE_COHERENCY')) return -EINVAL;
  const g = iommufdGetGroup(ictx, dev);
  if (g.errno || !g.value) return g.errno;
  const unwind = new Unwind();
  unwind.onError('out_group_put', () => iommufdPutGroup(g.value!));
  const rc = machine.claimDmaOwner(dev, ictx);
  if (rc) return unwind.exit(rc);
  idev.igroup = g.value;
  idev.enforceCacheCoherency = machine.capable(dev, 'ENFORCE_CACHE_COHERENCY');
  return unwind.exit(0);
}

/** iommufd_device_bind (7.3), with the fault. */
function deviceBind(ictx: IommufdCtx, dev: SimDevice): Result<IommufdDevice> {
  const idev: IommufdDevice = {
    type: 'DEVICE',
    id: 0,
    users: 0,
    ictx,
    dev,
    igroup: undefined as unknown as IommufdDevice['igroup'], // set by iommufd_bind_iommu
    enforceCacheCoherency: false,
    destroy: () => deviceDestroy(idev),
  };
  const rc = iommufdObjectAlloc(ictx, idev);
  if (rc) return { errno: rc };
  // THE FAULT: iommufd_ctx_get() before iommufd_bind_iommu() instead of after it.
  if (!dev.isMock) ictx.file?.get();
  const b = bindIommu(ictx, idev);
  if (b) {
    // err_out: iommufd_object_abort_and_destroy → iommufd_device_destroy returns at `if (!idev->igroup)`:
    // the reference taken above is not dropped.
    iommufdObjectAbort(ictx, idev);
    return { errno: b };
  }
  refcount_inc(idev); // the calling driver is a user until unbind
  iommufdObjectFinalize(ictx, idev);
  return { errno: 0, value: idev };
}

/** vfio_iommufd_physical_bind over the faulty iommufd_device_bind. */
function physicalBind(df: VfioDeviceFile): number {
  const r = deviceBind(df.iommufd!.ctx, df.device.dev);
  if (r.errno || !r.value) return r.errno;
  df.device.iommufdDevice = r.value;
  df.devid = r.value.id;
  return 0;
}

/** vfio_df_open (cdev) over it. */
function dfOpen(df: VfioDeviceFile): number {
  const vdev = df.device;
  if (vdev.openCount !== 0) return -EINVAL;
  vdev.openCount++;
  const rc = physicalBind(df);
  if (rc) vdev.openCount--;
  return rc;
}

export function createAdapter(profile: Profile): Implementation {
  const bind = bindHook({ open: dfOpen });
  return mutantImplementation('bind-ctx-get-before-bind-iommu', profile, {
    vfioIoctl: (df, cmd, arg, original) => (profile === '7.3' ? bind(df, cmd, arg, original) : original()),
  });
}
