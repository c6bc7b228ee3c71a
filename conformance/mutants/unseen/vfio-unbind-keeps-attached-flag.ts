/**
 * R18-C4 — vfio-unbind-keeps-attached-flag (drivers/vfio/iommufd.c
 * vfio_iommufd_physical_unbind; 7.3 — see the last paragraph for 6.12).
 *
 * struct vfio_device records in iommufd_attached whether its iommufd_device
 * is attached; the flag lives in the vfio_device, not in the file, so it
 * outlives every open of the cdev and every iommufd context the device is
 * bound to. VFIO_DEVICE_ATTACH_IOMMUFD_PT reads it to choose between a first
 * attach and a replace (vfio_iommufd_physical_attach_ioas), DETACH and unbind
 * read it to know whether there is an attachment to undo. Closing a bound
 * device file unbinds it:
 *
 *     void vfio_iommufd_physical_unbind(struct vfio_device *vdev)
 *     {
 *             ...
 *             if (vdev->iommufd_attached) {
 *                     iommufd_device_detach(vdev->iommufd_device, IOMMU_NO_PASID);
 *                     vdev->iommufd_attached = false;
 *             }
 *             iommufd_device_unbind(vdev->iommufd_device);
 *             vdev->iommufd_device = NULL;
 *     }
 *
 * THE FAULT: the reset of the flag is lost ("iommufd_device is set to NULL
 * just below, nothing can look at the flag without one"):
 *
 *             if (vdev->iommufd_attached)
 *                     iommufd_device_detach(vdev->iommufd_device, IOMMU_NO_PASID);
 *             iommufd_device_unbind(vdev->iommufd_device);
 *             vdev->iommufd_device = NULL;
 *
 * Closing a device file while the device is attached (a VMM that exits or
 * crashes, a hot-unplug) leaves iommufd_attached set. Nothing shows then: the
 * detach and unbind happen as they should.
 *
 * Consequence (state left on one object that later commands on others trip
 * over): the next open of the device binds normally — to the same iommufd or
 * to another process's — but its first VFIO_DEVICE_ATTACH_IOMMUFD_PT takes
 * the replace path (iommufd_device_replace) for a device that is attached
 * nowhere and fails with EINVAL, whatever pt_id names: the device can no
 * longer be assigned until userspace happens to issue a DETACH first (QEMU
 * does not). Worse in a multi-device iommu group: when a sibling device of
 * the same group is attached in that context, the stale DETACH or the next
 * close runs iommufd_device_detach() for a device that is in no attach:
 * 7.3's iommufd_hw_pagetable_detach() finds the group's attach, erases
 * nothing from its device_array, and still puts a reference on the
 * sibling's HWPT and one on the device object. The sibling's HWPT is now a
 * reference short: an automatic HWPT is destroyed while the sibling still
 * translates through it (its DMA faults, its pages are unpinned under it);
 * a user HWPT can be destroyed under the sibling; and the device object's
 * own count hits zero at unbind (refcount saturated, iommufd_device_unbind
 * WARNs): the iommufd_device is leaked with the group's DMA ownership and a
 * reference on its iommufd context, which is then never released.
 *
 * Applied as: the VFIO device file's release and VFIO_DEVICE_BIND_IOMMUFD
 * (whose failed out_devid copy-back closes the device again) run a copy of
 * vfio_df_close with the faulty vfio_iommufd_physical_unbind: the flag is
 * left set. A DETACH or an unbind of a device whose flag is set but which is
 * in no attach runs the kernel's iommufd_device_detach() for it (nothing
 * without an attach of its group; with one, the two unowned puts: the HWPT's
 * through iommufd_hw_pagetable_put, the device object's, each saturating at
 * zero as refcount_t does), and a device object whose count is gone is left
 * in place at unbind. HWPTs freed while their group still uses them keep a
 * saturated count and no id (their later puts land in freed memory); a user
 * HWPT a reference short saturates at its last put. Everything else is the
 * reference's. On 6.12 the stale detach list_del()s a group_item that was
 * never added to igroup->device_list (an oops the reference does not
 * model): run under --profile 7.3.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdCtx, IommufdDevice, IommufdHwpt } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceIsAttached } from '../../../impl/iommufd/group.ts';
import { findHwptPaging, iommufdHwPagetablePut } from '../../../impl/iommufd/hw_pagetable.ts';
import { iommufdDeviceDetach, iommufdDeviceUnbind } from '../../../impl/iommufd/device.ts';
import { ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { type VfioDevice, type VfioDeviceFile, vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { dropFileBinding, releaseInstead } from './_vfio_release.ts';
import { bindIommufdWith } from './_cdev_bind.ts';

/** What refcount_t holds once a decrement hit zero (REFCOUNT_SATURATED): the object is leaked. */
const SATURATED = 0x40000000;
const saturated = (n: number): boolean => n >= SATURATED / 2;

export function createAdapter(profile: Profile): Implementation {
  /** User HWPTs a stale detach put a reference it did not own on. */
  const short = new WeakSet<IommufdHwpt>();

  /** A device whose iommufd_attached is set but which is in no attach (the stale flag). */
  const stale = (df: VfioDeviceFile): IommufdDevice | undefined => {
    const idev = df.device.iommufdDevice;
    return df.accessGranted && idev && df.device.iommufdAttached && !iommufdDeviceIsAttached(idev) ? idev : undefined;
  };

  /** 7.3 iommufd_device_detach(idev, IOMMU_NO_PASID) for a device in no attach->device_array. */
  const staleDetach = (idev: IommufdDevice): void => {
    const hwpt = idev.igroup.hwpt; // attach = xa_load(&igroup->pasid_attach, IOMMU_NO_PASID)
    if (!hwpt) return; // no attach: return NULL, and iommufd_device_detach returns
    // xa_erase(&attach->device_array, idev->obj.id): not there; the array is not empty (the sibling).
    const paging = findHwptPaging(hwpt);
    if (paging) ioptRemoveReservedIova(paging.ioas.iopt, idev.dev);
    // iommufd_hw_pagetable_put(idev->ictx, hwpt): a reference no device_array entry held
    if (hwpt.users > 1) {
      if (!hwpt.autoDomain) short.add(hwpt);
      iommufdHwPagetablePut(idev.ictx, hwpt);
    } else hwpt.users = SATURATED;
    // refcount_dec(&idev->obj.users)
    idev.users = idev.users > 1 ? idev.users - 1 : SATURATED;
  };

  /**
   * Run a device operation that may put the group's HWPT: a user HWPT a reference short
   * saturates where its count hits zero (refcount_dec), instead of underflowing.
   */
  const guarded = <T>(idev: IommufdDevice | null | undefined, run: () => T): T => {
    const hwpt = idev?.igroup.hwpt;
    if (!hwpt || !short.has(hwpt) || saturated(hwpt.users)) return run();
    hwpt.users++;
    try {
      return run();
    } finally {
      if (!saturated(hwpt.users)) hwpt.users = hwpt.users <= 1 ? SATURATED : hwpt.users - 1;
    }
  };

  /** The faulty vfio_iommufd_physical_unbind. */
  const physicalUnbind = (vdev: VfioDevice): void => {
    const idev = vdev.iommufdDevice;
    if (!idev) return;
    if (vdev.iommufdAttached) {
      if (iommufdDeviceIsAttached(idev)) guarded(idev, () => iommufdDeviceDetach(idev));
      else staleDetach(idev);
      // THE FAULT: vdev->iommufd_attached = false; is gone
    }
    // iommufd_device_unbind: with the device object's count gone, refcount_dec hits zero and
    // iommufd_object_remove answers EBUSY (WARN): the object, its group ownership and its ctx reference stay.
    if (idev.users <= 1 || saturated(idev.users)) idev.users = SATURATED;
    else iommufdDeviceUnbind(idev);
    vdev.iommufdDevice = null;
  };

  /** vfio_df_close (cdev): the last close unbinds. */
  const dfClose = (df: VfioDeviceFile): void => {
    const vdev = df.device;
    if (vdev.openCount === 1) physicalUnbind(vdev);
    vdev.openCount--;
  };

  /** VFIO_DEVICE_BIND_IOMMUFD, whose out_close_device unwind goes through the faulty unbind. */
  const bindIommufd = bindIommufdWith({ close: dfClose });

  return mutantImplementation('vfio-unbind-keeps-attached-flag', profile, {
    // vfio_device_fops_release → vfio_df_unbind_iommufd → vfio_df_close, with the faulty unbind
    process: releaseInstead((df) => {
      if (df.accessGranted) {
        dfClose(df);
        dropFileBinding(df);
      } else df.device.openFiles--;
      return true;
    }),
    object: (obj, ctx: IommufdCtx) => {
      if (obj.type !== 'HWPT_PAGING') return;
      // A HWPT destroyed while a group still points at it is freed under that group: its later puts land in freed memory.
      patchOwn(obj, 'destroy', (destroy) => () => {
        destroy();
        if ([...ctx.groups.values()].some((g) => g.hwpt === obj)) {
          obj.users = SATURATED;
          obj.id = -1;
        }
      });
    },
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (d.ok && d.kind === 'vfio-argsz') {
        const fields = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
        if (d.command.name === 'VFIO_DEVICE_BIND_IOMMUFD') return bindIommufd(df, fields, arg);
        const idev = stale(df);
        if (idev && d.command.name === 'VFIO_DEVICE_DETACH_IOMMUFD_PT' && fields.num('flags') === 0) {
          // vfio_iommufd_physical_detach_ioas: iommufd_attached is set, so it detaches (and clears the flag)
          staleDetach(idev);
          df.device.iommufdAttached = false;
          return 0;
        }
      }
      return guarded(df.device.iommufdDevice, original);
    },
  });
}
