/**
 * replace-new-hwpt-one-ref — HWPT lifetime across a multi-device group replace.
 *
 * Kernel: drivers/iommu/iommufd/device.c, iommufd_device_do_replace(). After
 * iommufd_hwpt_replace_device() moved the whole group, the references the
 * group's attached devices hold move from the old HWPT to the new one (6.12
 * counts igroup->device_list, 7.3 iommufd_group_device_num()):
 *
 *     num_devices = iommufd_group_device_num(igroup, pasid);
 *     /*
 *      * Move the refcounts held by the device_array to the new hwpt. Retain a
 *      * refcount for this thread as the caller will free it.
 *      *\/
 *     refcount_add(num_devices, &hwpt->obj.users);
 *     if (num_devices > 1)
 *         WARN_ON(refcount_sub_and_test(num_devices - 1,
 *                                       &old_hwpt->obj.users));
 *
 * The fault: the new HWPT gets one reference, as iommufd_hw_pagetable_attach()
 * takes one for the device it attaches —
 *
 *     refcount_inc(&hwpt->obj.users);
 *
 * — while the old HWPT still gives up the siblings' num_devices - 1. The
 * replacing device is accounted for; its siblings, which the group replace
 * moved along with it, are not. With one attached device per group (every
 * selftest mock device) nothing changes, which is how it would pass review and
 * the selftests.
 *
 * Observable: after VFIO_DEVICE_ATTACH_IOMMUFD_PT replaced a group with two
 * attached devices onto HWPT B, B holds one reference too few. Once one of the
 * two devices detaches (DETACH_PT, or its fd closes), B looks unused: a user
 * HWPT can be IOMMU_DESTROYed (kernel: EBUSY) while the other device's group
 * is still attached to its domain, and an automatic HWPT is destroyed
 * by the detach itself (iommufd_hw_pagetable_put → put_and_try_destroy) —
 * the domain is freed under an attached device, whose DMA stops translating
 * through the IOAS mappings it should still see (kernel: it keeps working).
 * The last detach then underflows B's refcount (refcount_t saturates: WARN).
 *
 * Applied as: around a VFIO ATTACH that is a replace of a group with more than
 * one attached device, the new HWPT gives back num_devices - 1 references once
 * the reference's replace moved the group; HWPT refcounts saturate on underflow
 * as the kernel's refcount_t does, and a freed domain translates nothing.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { mutantImplementation } from '../harness.ts';
import { kernelRefcount } from './_kernel_refcount.ts';
import { patchTranslate } from './_leaked_attach.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('replace-new-hwpt-one-ref', profile, {
    object: (obj) => {
      if (obj.type === 'HWPT_PAGING') kernelRefcount(obj);
    },
    machine: (m) => patchTranslate(m),
    vfioIoctl: (df, cmd, arg, original) => {
      if (cmd !== commandByName(df.profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.request) return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || !vdev.iommufdAttached) return original();
      const igroup = idev.igroup;
      const old = igroup.hwpt;
      const n = igroup.deviceList.length;
      const rc = original();
      // The replace itself moved the group (even if the pt_id copy-back then detached this device).
      const now = igroup.hwpt;
      if (old && now && now !== old && n > 1) now.users -= n - 1; // refcount_inc instead of refcount_add(num_devices)
      return rc;
    },
  });
}
