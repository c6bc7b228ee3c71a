/**
 * R22-C4 — detach-last-test-after-own-id (drivers/iommu/iommufd/device.c,
 * iommufd_hw_pagetable_detach(), 7.3).
 *
 * 7.3 keeps a group's attachment in a struct iommufd_attach: the HWPT and an
 * xarray of the attached devices indexed by their object id. Detaching a
 * device erases its entry; the group leaves the domain only when no device
 * of the group is left in the array:
 *
 *     hwpt = attach->hwpt;
 *     hwpt_paging = find_hwpt_paging(hwpt);
 *
 *     xa_erase(&attach->device_array, idev->obj.id);
 *     if (xa_empty(&attach->device_array)) {
 *             iommufd_hwpt_detach_device(hwpt, idev, pasid);
 *             xa_erase(&igroup->pasid_attach, pasid);
 *             kfree(attach);
 *     }
 *     if (hwpt_paging && pasid == IOMMU_NO_PASID)
 *             iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev);
 *
 * THE FAULT: the emptiness test is written with the idiom the same file uses
 * in iommufd_hwpt_pasid_compat() to ask "is anything else attached?",
 * xa_find_after(), started from the departing device's own index:
 *
 *     unsigned long index = idev->obj.id;
 *
 *     xa_erase(&attach->device_array, idev->obj.id);
 *     if (!xa_find_after(&attach->device_array, &index, ULONG_MAX,
 *                        XA_PRESENT)) {
 *
 * xa_find_after() only looks at indexes above `index`, so the test asks
 * "is a device with a larger id still attached?". When the device with the
 * largest id of the group detaches while a sibling with a smaller id is still
 * attached, the whole group is detached from the domain (back to the
 * blocking domain) and its attach — the sibling's entry with it — is freed.
 * Detaching in the other order works, so a test that detaches devices in
 * bind order never sees it.
 *
 * Two objects, several commands, and what user space sees:
 *   - the sibling, which VFIO and iommufd still consider attached, loses
 *     its DMA at once: every access faults as blocked although its IOAS maps
 *     the range (its translate walk finds nothing);
 *   - VFIO_DEVICE_ATTACH_IOMMUFD_PT on the sibling (a replace, since VFIO
 *     believes it attached) fails with EINVAL; its
 *     VFIO_DEVICE_DETACH_IOMMUFD_PT "succeeds" as a no-op
 *     (iommufd_hw_pagetable_detach finds no attach and returns NULL, so
 *     iommufd_device_detach puts nothing);
 *   - the sibling's attachment references are never given back: the HWPT
 *     keeps one users reference forever (IOMMU_DESTROY of a HWPT the user
 *     allocated is EBUSY after every device left it; an automatic HWPT never
 *     dies), the sibling's reserved regions stay reserved in the IOAS, and
 *     the device object keeps its attach reference, so
 *     iommufd_device_unbind() at close fails (iommufd_object_destroy_user:
 *     EBUSY, WARN) and the device object — with its DMA ownership of the
 *     group and its reference on the iommufd context — is never freed: the
 *     context, its IOASes and every pinned page outlive the process's
 *     close() of all its files.
 *
 * 7.3 only: 6.12 keeps igroup->device_list (a list_empty() test); on 6.12 the
 * mutant is the reference.
 *
 * Applied as: each iommufd_group's device list (the attach's device_array)
 * is wrapped so that when iommufd_hw_pagetable_detach removes a device and
 * no remaining device has a larger object id, the remaining devices are
 * dropped from the attachment too (the reference then detaches the group
 * from the domain, as the faulty test does). Those devices are "lost": a
 * VFIO detach of one is the kernel's no-op, and closing its file leaves its
 * device object in place (the destroy_user failure) while the file itself
 * is released.
 */
import { refcount_dec } from '../../../impl/iommufd/object.ts';
import type { IommufdCtx, IommufdDevice, IommufdGroup } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceIsAttached } from '../../../impl/iommufd/group.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { dropFileBinding, releaseInstead } from './_vfio_release.ts';

/** Devices whose attachment the faulty detach dropped with a sibling's: their references are never given back. */
const lost = new WeakSet<IommufdDevice>();

/** The attach's device_array with the faulty "last device" test. */
function patchGroup(igroup: IommufdGroup): void {
  const list = igroup.deviceList;
  patchOwn(list, 'splice', (splice) => (start: number, deleteCount: number) => {
    const removed = splice(start, deleteCount);
    const gone = removed[0];
    // THE FAULT: !xa_find_after(&attach->device_array, &gone->obj.id, ...) stands for "empty".
    if (removed.length === 1 && gone && list.length > 0 && !list.some((d) => d.id > gone.id)) {
      for (const sibling of splice(0, list.length)) lost.add(sibling);
    }
    return removed;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('detach-last-test-after-own-id', profile, {
    ctx: (ctx: IommufdCtx) => {
      if (ctx.profile !== '7.3') return;
      patchOwn(ctx.groups, 'set', (set) => (key, igroup) => {
        if (ctx.groups.get(key) !== igroup) patchGroup(igroup);
        return set(key, igroup);
      });
    },
    vfioIoctl: (df, cmd, arg, original) => {
      if (cmd !== commandByName(df.profile, 'VFIO_DEVICE_DETACH_IOMMUFD_PT')?.request) return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || !vdev.iommufdAttached || !lost.has(idev) || iommufdDeviceIsAttached(idev)) return original();
      // iommufd_hw_pagetable_detach finds no attach: iommufd_device_detach returns, VFIO clears its flag.
      vdev.iommufdAttached = false;
      const rc = original();
      if (rc) vdev.iommufdAttached = true; // refused before the detach (flags)
      return rc;
    },
    process: releaseInstead((df) => {
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!df.accessGranted || !idev || !lost.has(idev) || vdev.openCount !== 1) return false;
      // vfio_iommufd_physical_unbind: the detach (a no-op for an attachment the fault dropped) ...
      if (vdev.iommufdAttached) {
        if (iommufdDeviceIsAttached(idev)) iommufdDeviceDetach(idev);
        vdev.iommufdAttached = false;
      }
      // ... then iommufd_device_unbind: destroy_user puts the driver's reference, and
      // refcount_dec_if_one fails on the leaked attach reference (EBUSY, WARN): the object stays.
      refcount_dec(idev);
      idev.ictx.warnings.push(`iommufd_object_destroy_user: device ${idev.id} still referenced (EBUSY)`);
      vdev.iommufdDevice = null;
      vdev.openCount--;
      dropFileBinding(df);
      return true;
    }),
  });
}
