/**
 * vfio-replace-fail-clears-attached (drivers/vfio/iommufd.c
 * vfio_iommufd_physical_attach_ioas, under vfio_df_ioctl_attach_pt).
 *
 * VFIO remembers whether its device is attached (vdev->iommufd_attached) to
 * choose between iommufd_device_attach and iommufd_device_replace, and later
 * whether DETACH and the final unbind must call iommufd_device_detach:
 *
 *     if (vdev->iommufd_attached)
 *             rc = iommufd_device_replace(vdev->iommufd_device, pt_id);
 *     else
 *             rc = iommufd_device_attach(vdev->iommufd_device, pt_id);
 *     if (rc)
 *             return rc;
 *     vdev->iommufd_attached = true;
 *
 * The fault is the "simplification" `vdev->iommufd_attached = !rc; return rc;`.
 * A failed attach is unaffected, but iommufd_device_replace fails without
 * changing anything ("If it fails then no change is made to the attachment"):
 * after a failed replace (a bad or incompatible pt_id, a reserved-region
 * conflict in the target IOAS, ...) the device is still attached in iommufd
 * and in the IOMMU, while VFIO believes it is detached.
 *
 * Consequences for a user, each only after a later command:
 *   - VFIO_DEVICE_DETACH_IOMMUFD_PT returns 0 without detaching: the device
 *     keeps translating through the IOAS (DMA that must be blocked succeeds,
 *     and the HWPT/IOAS stay busy);
 *   - the next ATTACH goes through iommufd_device_attach for a device that is
 *     already in the group's attachment (7.3: xa_insert of its id in the
 *     device_array gives -EBUSY; 6.12 would list_add_tail an entry that is
 *     already on igroup->device_list and corrupt the list — modelled as
 *     7.3's EBUSY);
 *   - closing the device file: vfio_iommufd_physical_unbind skips the
 *     detach, iommufd_device_unbind's iommufd_object_destroy_user finds the
 *     attachment's reference and fails (WARN), so the device object is never
 *     destroyed: the group stays attached and owned by the context, the
 *     device keeps its iommufd_ctx reference, and the context (its IOAS,
 *     HWPTs, pinned pages and the memlock charge) is never freed — after
 *     every fd is closed the memory stays pinned and the device can still
 *     DMA into it.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT on VFIO device files through a
 * copy of vfio_df_ioctl_attach_pt with the faulty flag update, and the
 * release of such a file following the kernel's WARN path when the device
 * is attached in iommufd but not in VFIO's flag (the reference's unbind
 * would otherwise assert).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY, EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { iommufdDeviceAttach, iommufdDeviceDetach, iommufdDeviceReplace } from '../../../impl/iommufd/device.ts';
import { iommufdDeviceIsAttached } from '../../../impl/iommufd/group.ts';
import { iommufdGetObject } from '../../../impl/iommufd/object.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode, type VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { dropFileBinding, releaseInstead } from './_vfio_release.ts';
import { mutantImplementation, type MutantHooks } from '../harness.ts';

/** VFIO's flag says detached while iommufd has the device in its group's attachment. */
function attachedBehindVfio(idev: IommufdDevice | null, vfioAttached: boolean): idev is IommufdDevice {
  return idev !== null && !vfioAttached && iommufdDeviceIsAttached(idev);
}

/**
 * iommufd_device_attach reached for a device already in the group's
 * device_array (7.3 iommufd_hw_pagetable_attach: xa_insert → -EBUSY, after
 * iommufd_get_object and the pt type switch).
 */
function attachAgain(idev: IommufdDevice, ptId: number): number {
  const pt = iommufdGetObject(idev.ictx, ptId, 'ANY');
  if (pt.errno || !pt.value) return pt.errno;
  if (pt.value.type !== 'IOAS' && pt.value.type !== 'HWPT_PAGING' && pt.value.type !== 'HWPT_NESTED') return -EINVAL;
  return -EBUSY;
}

/** vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas, with the faulty flag update. */
const attachIoctl: NonNullable<MutantHooks['vfioIoctl']> = (df, cmd, arg, original) => {
  const d = vfioDeviceIoctlDecode(df, cmd, arg);
  if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
  const vdev = df.device;
  const idev = vdev.iommufdDevice;
  if (!idev) return original();
  const attach = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
  const flags = attach.num('flags');
  if (df.profile === '6.12') {
    if (flags) return -EINVAL;
  } else {
    if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
    if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
  }
  const ptId = { value: attach.num('pt_id') };
  let rc: number;
  if (vdev.iommufdAttached) rc = iommufdDeviceReplace(idev, ptId);
  else if (attachedBehindVfio(idev, vdev.iommufdAttached)) rc = attachAgain(idev, ptId.value);
  else rc = iommufdDeviceAttach(idev, ptId);
  // THE FAULT: a failed replace leaves the device attached, but VFIO now thinks it is not.
  vdev.iommufdAttached = rc === 0;
  if (rc) return rc;
  attach.set('pt_id', ptId.value);
  if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) {
    // out_detach: vfio_iommufd_physical_detach_ioas
    iommufdDeviceDetach(idev);
    vdev.iommufdAttached = false;
    return -EFAULT;
  }
  return 0;
};

/**
 * vfio_device_fops_release → vfio_df_unbind_iommufd for a device the fault
 * left attached behind VFIO's back: vfio_iommufd_physical_unbind skips the
 * detach; iommufd_device_unbind → iommufd_object_destroy_user drops the
 * caller's reference, finds the attachment's and gives up (WARN_ON): the
 * object, its group attachment, its DMA ownership and its ctx reference stay.
 * VFIO then forgets the device and drops the file's own ctx reference.
 */
function releaseLeakingDevice(df: VfioDeviceFile): boolean {
  const vdev = df.device;
  const idev = vdev.iommufdDevice;
  if (!df.accessGranted || vdev.openCount !== 1 || !attachedBehindVfio(idev, vdev.iommufdAttached)) return false;
  idev.users--; // iommufd_object_remove: refcount_dec of the caller's reference, then -EBUSY
  idev.ictx.warnings.push(`iommufd_object_destroy_user: device ${idev.id} still referenced (users ${idev.users}); left in place`);
  vdev.iommufdDevice = null;
  vdev.openCount--;
  dropFileBinding(df);
  return true;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vfio-replace-fail-clears-attached', profile, {
    vfioIoctl: attachIoctl,
    process: releaseInstead(releaseLeakingDevice),
  });
}
