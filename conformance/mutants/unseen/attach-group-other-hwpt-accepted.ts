/**
 * attach-group-other-hwpt-accepted — drivers/iommu/iommufd/device.c,
 * iommufd_hw_pagetable_attach().
 *
 * Every device of an iommu_group must sit on the same HWPT: the group has one
 * domain. The first device attaches the group; a later device of the same
 * group may only join the HWPT the group is already on. Correct code:
 *
 *   7.3:  old_hwpt = attach->hwpt;
 *         rc = xa_insert(&attach->device_array, idev->obj.id, XA_ZERO_ENTRY, GFP_KERNEL);
 *         ...
 *         if (old_hwpt && old_hwpt != hwpt) {
 *                 rc = -EINVAL;
 *                 goto err_release_devid;
 *         }
 *   6.12: if (idev->igroup->hwpt != NULL && idev->igroup->hwpt != hwpt) {
 *                 rc = -EINVAL;
 *                 goto err_unlock;
 *         }
 *
 * The fault: the test is lost (as if the condition were folded into the
 * "first device attaches the group" branch in a refactor). A second device of
 * an attached group that asks for another HWPT (or another IOAS: the automatic
 * domain search then allocates a new domain with immediate attach, which
 * reaches the same test) is accepted: its reserved regions join the other
 * IOAS, it is put on the group's device list and takes a reference on the
 * HWPT it asked for, but the group is not moved (only the first device
 * attaches the group), so the device keeps doing DMA through the group's
 * existing domain.
 *
 * What a user sees: VFIO_DEVICE_ATTACH_IOMMUFD_PT succeeds (the reference:
 * EINVAL) and reports the new HWPT id, yet the device reads and writes the
 * memory the *other* IOAS maps — memory the caller believes this device
 * cannot reach (isolation); unmapping in "its" IOAS does not stop its DMA;
 * the HWPT references no longer match the group (a later detach puts the
 * group's HWPT, not the one this device took).
 *
 * Applied as: around VFIO_DEVICE_ATTACH_IOMMUFD_PT of a bound, not yet
 * attached device whose group is attached, the reference runs with the
 * group's HWPT hidden from exactly the comparison: in 7.3 the function reads
 * igroup->hwpt twice per call (the kzalloc(attach) test, then the comparison),
 * in 6.12 once (the comparison); the comparison reads see NULL, every other
 * read the real HWPT (so fail-nth steps are unchanged). Nothing writes the
 * field on this path (the group already has devices); reads from elsewhere
 * (a detach on the EFAULT path) see the real HWPT. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdHwpt } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommufdObject } from '../../../impl/iommufd/object.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

/** REFCOUNT_SATURATED: where refcount_t parks a counter it caught underflowing. */
const REFCOUNT_SATURATED = 0xc0000000;

/**
 * The kernel's refcount_dec() on a count of 1 or less: WARN ("decrement hit 0;
 * leaking memory") and saturate — the object is never freed. The reference's
 * refcount_dec asserts instead; the references this fault leaves unbalanced
 * (a later detach puts the group's HWPT, not the one the device took) get
 * the kernel's behaviour on this mutant's HWPT objects.
 */
function kernelRefcount(obj: IommufdObject): void {
  let real = obj.users;
  let saturated = false;
  Object.defineProperty(obj, 'users', {
    configurable: true,
    enumerable: true,
    get: () => {
      if (saturated) return REFCOUNT_SATURATED;
      if (real <= 1 && (new Error().stack ?? '').split('\n')[2]?.includes('refcount_dec')) {
        saturated = true;
        return REFCOUNT_SATURATED;
      }
      return real;
    },
    set: (v: number) => {
      if (!saturated) real = v;
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('attach-group-other-hwpt-accepted', profile, {
    object: (obj) => {
      if (obj.type === 'HWPT_PAGING') kernelRefcount(obj);
    },
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!df.accessGranted || !idev || vdev.iommufdAttached) return original();
      const igroup = idev.igroup;
      if (igroup.hwpt === null || igroup.deviceList.length === 0) return original();
      let real: IommufdHwpt | null = igroup.hwpt;
      let reads = 0;
      const perCall = df.profile === '6.12' ? 1 : 2;
      Object.defineProperty(igroup, 'hwpt', {
        configurable: true,
        enumerable: true,
        get: () => {
          // Only iommufd_hw_pagetable_attach's own reads (not a detach on an error path).
          const caller = (new Error().stack ?? '').split('\n')[2] ?? '';
          if (!caller.includes('iommufdHwPagetableAttach')) return real;
          reads++;
          // THE FAULT: the comparison with the group's HWPT sees no HWPT.
          return reads % perCall === 0 ? null : real;
        },
        set: (v: IommufdHwpt | null) => {
          real = v;
        },
      });
      try {
        return original();
      } finally {
        Object.defineProperty(igroup, 'hwpt', { value: real, writable: true, configurable: true, enumerable: true });
      }
    },
  });
}
