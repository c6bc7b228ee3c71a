/**
 * vfio-detach-unattached-puts-sibling-hwpt (drivers/vfio/iommufd.c
 * vfio_iommufd_physical_detach_ioas, reached by VFIO_DEVICE_DETACH_IOMMUFD_PT
 * through vfio_df_ioctl_detach_pt; 7.3 profile only).
 *
 * The kernel detaches a device only if VFIO attached it:
 *
 *     void vfio_iommufd_physical_detach_ioas(struct vfio_device *vdev)
 *     {
 *             lockdep_assert_held(&vdev->dev_set->lock);
 *
 *             if (WARN_ON(!vdev->iommufd_device) || !vdev->iommufd_attached)
 *                     return;
 *
 *             iommufd_device_detach(vdev->iommufd_device, IOMMU_NO_PASID);
 *             vdev->iommufd_attached = false;
 *     }
 *
 * THE FAULT: the `!vdev->iommufd_attached` test is dropped as redundant —
 * since 7.3 (the PASID rework) iommufd_hw_pagetable_detach() itself returns
 * NULL, and iommufd_device_detach() then does nothing, when there is no
 * attachment:
 *
 *             attach = xa_load(&igroup->pasid_attach, pasid);
 *             if (!attach) {
 *                     mutex_unlock(&igroup->lock);
 *                     return NULL;
 *             }
 *
 * (the PASID path, vfio_iommufd_physical_pasid_detach_ioas, keeps its own
 * ida_exists() test). That covers a device whose *group* has no attachment,
 * but not one that is itself unattached while a sibling device of its
 * iommu_group is attached: then the attach exists, and detach runs on:
 *
 *             hwpt = attach->hwpt;
 *             xa_erase(&attach->device_array, idev->obj.id);   (not there)
 *             if (xa_empty(&attach->device_array)) ...          (the sibling is)
 *             if (hwpt_paging && pasid == IOMMU_NO_PASID)
 *                     iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev);
 *             mutex_unlock(&igroup->lock);
 *             iommufd_hw_pagetable_put(idev->ictx, hwpt);
 *
 * and iommufd_device_detach() then drops a users reference of the device:
 *
 *             refcount_dec(&idev->obj.users);
 *
 * VFIO_DEVICE_DETACH_IOMMUFD_PT on a bound but unattached device (never
 * attached, or already detached) whose sibling is attached succeeds, as in
 * the kernel, but:
 *   - the sibling's HWPT loses the reference the sibling's attachment holds:
 *     an automatic HWPT is destroyed on the spot, under the attached sibling
 *     (its DMA no longer reaches the IOAS, its IOAS can be destroyed); a
 *     user HWPT can now be destroyed by IOMMU_DESTROY (the kernel: EBUSY)
 *     while the sibling is attached to it; every further such DETACH drops
 *     one more;
 *   - the device object loses the reference its VFIO binding holds: closing
 *     the device file can no longer destroy it (iommufd_object_destroy_user
 *     WARNs, refcount_t saturates): the device stays bound to the context,
 *     its group stays owned (another context's bind: EPERM), and the context
 *     it holds is never freed, nor the pages its IOASes pin.
 * A device without an attached sibling is unaffected, and so is 6.12 — where
 * the same change would list_del() an unlinked group_item and oops — which
 * this fault leaves as the reference.
 *
 * Applied as (7.3): VFIO_DEVICE_DETACH_IOMMUFD_PT runs vfio_df_ioctl_detach_pt
 * over the faulty vfio_iommufd_physical_detach_ioas and a copy of 7.3's
 * iommufd_device_detach / iommufd_hw_pagetable_detach; a VFIO device file's
 * release is vfio_df_unbind_iommufd with iommufd_device_unbind's failure a
 * WARN (the object stays) instead of the reference's throw; HWPT and device
 * objects count their users as the kernel's refcount_t (a refcount_dec()
 * reaching zero WARNs and saturates: the object leaks) where the reference's
 * model throws. Everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_DETACH_PASID } from '../../../spec/uapi/constants.ts';
import { iommufdObjectDestroyUser, refcount_dec } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdHwpt } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging, iommufdHwPagetablePut } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { type VfioDevice, vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';
import { kernelRefcount } from './_kernel_refcount.ts';
import { dropFileBinding, releaseInstead } from './_vfio_release.ts';

/** 7.3 iommufd_hw_pagetable_detach(idev, IOMMU_NO_PASID): NULL without an attachment; puts the HWPT itself. */
function hwPagetableDetach(idev: IommufdDevice): IommufdHwpt | null {
  const igroup = idev.igroup;
  const hwpt = igroup.hwpt; // attach = xa_load(&igroup->pasid_attach, pasid); hwpt = attach->hwpt
  if (!hwpt) return null;
  const paging = findHwptPaging(hwpt);
  const i = igroup.deviceList.indexOf(idev); // xa_erase(&attach->device_array, idev->obj.id)
  if (i >= 0) igroup.deviceList.splice(i, 1);
  if (igroup.deviceList.length === 0) {
    idev.dev.machine.iommuDetachGroup(igroup.group);
    igroup.hwpt = null;
  }
  if (paging) ioptRemoveReservedIova(paging.ioas.iopt, idev.dev);
  iommufdHwPagetablePut(idev.ictx, hwpt);
  return hwpt;
}

/** 7.3 iommufd_device_detach(idev, IOMMU_NO_PASID). */
function deviceDetach(idev: IommufdDevice): void {
  const hwpt = hwPagetableDetach(idev);
  if (!hwpt) return;
  refcount_dec(idev);
}

/** vfio_iommufd_physical_detach_ioas with THE FAULT. */
function physicalDetachIoas(vdev: VfioDevice): void {
  const idev = vdev.iommufdDevice;
  if (!idev) return; // WARN_ON(!vdev->iommufd_device)
  // THE FAULT: no `|| !vdev->iommufd_attached` — iommufd_device_detach is trusted to do nothing.
  deviceDetach(idev);
  vdev.iommufdAttached = false;
}

export function createAdapter(profile: Profile): Implementation {
  if (profile === '6.12') return mutantImplementation('vfio-detach-unattached-puts-sibling-hwpt', profile, {});
  return mutantImplementation('vfio-detach-unattached-puts-sibling-hwpt', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_DETACH_IOMMUFD_PT') return original();
      // vfio_df_ioctl_detach_pt (after the argsz rules, which the decode applied)
      const detach = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const flags = detach.num('flags');
      if (flags & ~VFIO_DEVICE_DETACH_PASID) return -EINVAL;
      if (flags & VFIO_DEVICE_DETACH_PASID) return -EOPNOTSUPP;
      physicalDetachIoas(df.device);
      return 0;
    },
    // vfio_device_fops_release → vfio_df_unbind_iommufd → vfio_df_close → vfio_iommufd_physical_unbind.
    process: releaseInstead((df) => {
      if (!df.accessGranted) return false;
      const vdev = df.device;
      if (vdev.openCount === 1) {
        const idev = vdev.iommufdDevice;
        if (idev) {
          if (vdev.iommufdAttached) {
            iommufdDeviceDetach(idev);
            vdev.iommufdAttached = false;
          }
          // iommufd_device_unbind → iommufd_object_destroy_user: WARN_ON(ret), the object stays.
          iommufdObjectDestroyUser(idev.ictx, idev);
          vdev.iommufdDevice = null;
        }
      }
      vdev.openCount--;
      dropFileBinding(df);
      return true;
    }),
    object: (obj) => {
      if (obj.type === 'HWPT_PAGING' || obj.type === 'DEVICE') kernelRefcount(obj);
    },
  });
}
