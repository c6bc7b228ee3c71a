/**
 * Round 5a fault (HWPT lifetime, group replace): iommufd_device_do_replace
 * (drivers/iommu/iommufd/device.c) moves the device_list's references to the
 * new HWPT — refcount_add(num_devices, &hwpt->obj.users) — but lost the
 * matching
 *
 *     if (num_devices > 1)
 *         WARN_ON(refcount_sub_and_test(num_devices - 1, &old_hwpt->obj.users));
 *
 * so for a group with more than one attached device, the old HWPT keeps one
 * reference per sibling device although none of them is attached to it any
 * more. (With one device per group — every selftest mock device — the bug is
 * invisible.)
 *
 * Consequence: after VFIO_DEVICE_ATTACH_IOMMUFD_PT moves a two-device group
 * to another HWPT, the old HWPT can never be destroyed (IOMMU_DESTROY is
 * EBUSY forever), so neither can its IOAS; an automatic HWPT is not freed
 * with its last device and stays in ioas->hwpt_list, a domain every later
 * IOAS_MAP still fills; and closing the iommufd cannot release those objects
 * (iommufd_fops_release's WARN_ON(!destroyed)), so the IOAS's pages stay
 * pinned and charged to the process after it closed everything.
 *
 * Applied as: around a VFIO ATTACH that is a replace of a group with more
 * than one attached device, the old HWPT gets num_devices - 1 references back
 * after the reference's replace succeeded.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('replace-keeps-old-refs', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      if (cmd !== commandByName(df.profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.request) return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || !vdev.iommufdAttached) return original();
      const igroup = idev.igroup;
      const old = igroup.hwpt;
      const n = igroup.deviceList.length;
      const rc = original();
      if (rc === 0 && old && igroup.hwpt !== old && n > 1) old.users += n - 1; // the missing refcount_sub
      return rc;
    },
  });
}
