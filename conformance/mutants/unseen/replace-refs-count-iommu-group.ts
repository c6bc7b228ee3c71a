/**
 * replace-refs-count-iommu-group (drivers/iommu/iommufd/device.c,
 * iommufd_device_do_replace).
 *
 * A replace moves the whole group to the new HWPT, so the references the
 * group's attached devices hold move with it. The kernel counts the devices
 * *iommufd* has attached (6.12: list_count_nodes(&igroup->device_list); 7.3
 * iommufd_group_device_num(igroup, pasid), the entries of the pasid's
 * attach->device_array):
 *
 *     num_devices = iommufd_group_device_num(igroup, pasid);
 *     /*
 *      * Move the refcounts held by the device_array to the new hwpt. Retain a
 *      * refcount for this thread as the caller will free it.
 *      *\/
 *     refcount_add(num_devices, &hwpt->obj.users);
 *     if (num_devices > 1)
 *             WARN_ON(refcount_sub_and_test(num_devices - 1,
 *                                           &old_hwpt->obj.users));
 *
 * THE FAULT: the count is taken from the iommu_group instead — every device
 * the group contains (what iommu_group_for_each_dev() walks), bound or not,
 * attached or not — the natural reading of "the whole group moves". When every
 * device of the group is attached the two counts agree (every selftest mock
 * device is a one-device group), so nothing changes there; it differs as soon
 * as a multi-device group has a device that is unbound, or bound but never
 * attached (the usual case: one device of the group assigned).
 *
 * Observable (a group of two, one attached, then a replace, then a detach):
 *   - the new HWPT gets a reference per group device: when the attached device
 *     detaches, a user HWPT still answers IOMMU_DESTROY with EBUSY (forever),
 *     an automatic one is not destroyed with its last device — it stays in
 *     its IOAS with its domain, keeping the IOAS busy (DESTROY: EBUSY) and its
 *     pages pinned and charged;
 *   - the old HWPT gives up one reference per *other* group device: with two
 *     devices it reaches one before the caller's put, which then underflows
 *     (refcount_t WARNs and saturates): an automatic old HWPT is not
 *     destroyed, but leaked in its IOAS with its domain and pins; a user one
 *     can never be destroyed (EBUSY); with three devices or more
 *     refcount_sub_and_test hits zero under the WARN.
 *
 * Applied as: every replace (VFIO_DEVICE_ATTACH_IOMMUFD_PT of an attached
 * device, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) goes through a copy of
 * iommufd_device_replace (device.c) with the faulty count; HWPT refcounts
 * follow refcount_t (an underflow saturates, the object is leaked).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import type { IommufdObject } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdHwpt } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { kernelRefcount, REFCOUNT_SATURATED } from './_kernel_refcount.ts';
import { deviceReplaceWith, mockDomainReplaceWith, replaceAttachIoctl } from './_replace.ts';

/** refcount_add */
function refcountAdd(n: number, obj: IommufdObject): void {
  obj.users += n;
}

/** refcount_sub_and_test: true when the count reached zero; an underflow WARNs and saturates. */
function refcountSubAndTest(n: number, obj: IommufdObject): boolean {
  const old = obj.users;
  if (old === n) {
    obj.users = 0;
    return true;
  }
  if (old < n) obj.users = REFCOUNT_SATURATED;
  else obj.users = old - n;
  return false;
}

/** iommufd_device_do_replace's move of the group's references, with THE FAULT in num_devices. */
function moveRefsByIommuGroup(idev: IommufdDevice, hwpt: IommufdHwpt, oldHwpt: IommufdHwpt): void {
  // THE FAULT: the iommu_group's devices, not the ones iommufd attached (igroup->device_list).
  const numDevices = idev.igroup.group.devices.length;
  refcountAdd(numDevices, hwpt);
  if (numDevices > 1 && refcountSubAndTest(numDevices - 1, oldHwpt)) {
    idev.ictx.warnings.push(`iommufd_device_do_replace: WARN_ON(refcount_sub_and_test) on HWPT ${oldHwpt.id}`);
  }
}

const deviceReplace = deviceReplaceWith({ moveRefs: moveRefsByIommuGroup });

export function createAdapter(profile: Profile): Implementation {
  const mockReplace = mockDomainReplaceWith(deviceReplace);
  return mutantImplementation('replace-refs-count-iommu-group', profile, {
    vfioIoctl: replaceAttachIoctl(deviceReplace),
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE ? mockReplace(ucmd) : original(ucmd)),
    },
    object: (obj) => {
      if (obj.type === 'HWPT_PAGING') kernelRefcount(obj);
    },
  });
}
