/**
 * attach-resv-first-device-only (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_attach).
 *
 * Every device of an iommu_group attaches to the group's HWPT on its own, and
 * each device's reserved regions join the IOAS at its own attach, owned by
 * that device (iopt_remove_reserved_iova(iopt, idev->dev) takes them out when
 * that device detaches):
 *     if (igroup->hwpt != NULL && igroup->hwpt != hwpt)
 *             return -EINVAL;
 *     if (hwpt_paging) {
 *             rc = iommufd_device_attach_reserved_iova(idev, hwpt_paging);
 *             if (rc)
 *                     goto err_unlock;
 *     }
 *     if (list_empty(&igroup->device_list)) {
 *             rc = iommufd_hwpt_attach_device(hwpt, idev);
 *             ...
 *             igroup->hwpt = hwpt;
 *     }
 *     refcount_inc(&hwpt->obj.users);
 *     list_add_tail(&idev->group_item, &igroup->device_list);
 * The fault moves the reservation into the list_empty() block, next to the
 * group's own attach (the shape of the pre-6.3 code, which reserved the
 * group's regions once, for its first device): only the first device of the
 * group to attach reserves its regions; every later device of the group joins
 * the group's HWPT reserving nothing (and iommufd_device_attach_reserved_iova's
 * iommufd_should_fail site is no longer on its path).
 *
 * Consequence: a later device's own reserved regions (a device MSI doorbell,
 * an RMRR-like window) are never kept out of the IOAS while it is attached:
 * the user can map memory over them, and the device's accesses to those
 * addresses land in user pages. Worse, the unit's regions (the x86 MSI window
 * 0xfee00000, the SMMU's software MSI window) are owned by the first device
 * only: when it detaches while a sibling stays attached, they are returned to
 * the IOAS, and the user maps memory over the interrupt window of a device
 * that still does DMA through that IOAS (its MSI writes become DMA into that
 * memory; on Arm the MSI cookie's IOVA is handed to the user).
 *
 * Applied on the VFIO cdev path (VFIO_DEVICE_ATTACH_IOMMUFD_PT of a device
 * that is not attached yet while another device of its group is): for that
 * attach the device reports no reserved regions and the group's IOAS skips
 * the reservation's fallible step. (The selftest's mock devices are each in
 * their own group, so IOMMU_TEST_OP_MOCK_DOMAIN never has a second device.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { FaultInjector } from '../../../impl/lib/fail_nth.ts';
import { findHwptPaging } from '../../../impl/iommufd/hw_pagetable.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import type { IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('attach-resv-first-device-only', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      // Only a first attach of a bound device (a second one is a replace, which moves every device's regions).
      if (!df.accessGranted || !idev || vdev.iommufdAttached) return original();
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const igroup = idev.igroup;
      // The first device of the group: the list is empty, the reservation is made (as the reference).
      if (igroup.deviceList.length === 0) return original();

      // THE FAULT: list_empty() is false, so iommufd_device_attach_reserved_iova is not called.
      // The only attach that gets past the HWPT check is one to the group's own HWPT, so only its
      // IOAS would have seen the reservation (and its fallible step).
      const dev: SimDevice = idev.dev;
      const paging = findHwptPaging(igroup.hwpt);
      const iopt: IoPagetable | undefined = paging?.ioas.iopt;
      const faultsDesc = iopt ? Object.getOwnPropertyDescriptor(iopt, 'faults') : undefined;
      Object.defineProperty(dev, 'resvRegions', { value: () => [], writable: true, configurable: true, enumerable: false });
      if (iopt && faultsDesc) {
        const real = faultsDesc.value as FaultInjector;
        let skipped = false;
        const faults = Object.create(real) as FaultInjector;
        Object.defineProperty(faults, 'shouldFail', {
          value: () => {
            if (!skipped) {
              skipped = true;
              return false; // the step is not taken: no fail-nth count
            }
            return real.shouldFail();
          },
        });
        Object.defineProperty(iopt, 'faults', { ...faultsDesc, value: faults });
      }
      try {
        return original();
      } finally {
        delete (dev as unknown as { resvRegions?: unknown }).resvRegions;
        if (iopt && faultsDesc) Object.defineProperty(iopt, 'faults', faultsDesc);
      }
    },
  });
}
