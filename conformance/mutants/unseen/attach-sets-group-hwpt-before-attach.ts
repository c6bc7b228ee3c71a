/**
 * R20-C2 — attach-sets-group-hwpt-before-attach (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_attach; 6.12 and 7.3, each in its own form).
 *
 * The first device of an iommu_group to attach attaches the whole group to the
 * HWPT's domain, and only once the IOMMU accepted it does iommufd record the
 * group's HWPT — the value every later attach of the group is checked against
 * ("igroup->hwpt != NULL && igroup->hwpt != hwpt → -EINVAL"). 6.12:
 *
 *     if (list_empty(&idev->igroup->device_list)) {
 *             rc = iommufd_hwpt_attach_device(hwpt, idev);
 *             if (rc)
 *                     goto err_unresv;
 *             idev->igroup->hwpt = hwpt;
 *     }
 *
 * 7.3 keeps the HWPT in the group's struct iommufd_attach, published in
 * igroup->pasid_attach after the same call:
 *
 *     if (iommufd_group_first_attach(igroup, pasid)) {
 *             rc = iommufd_hwpt_attach_device(hwpt, idev, pasid);
 *             if (rc)
 *                     goto err_unresv;
 *             attach->hwpt = hwpt;
 *             WARN_ON(xa_is_err(xa_store(&igroup->pasid_attach, pasid, attach, GFP_KERNEL)));
 *     }
 *
 * THE FAULT: the bookkeeping is moved above the call that can fail (so that
 * the driver's attach — an IOPF-capable domain's fault handler, a debug
 * print — can already find the group's HWPT):
 *
 *     6.12:   idev->igroup->hwpt = hwpt;
 *             rc = iommufd_hwpt_attach_device(hwpt, idev);
 *             if (rc)
 *                     goto err_unresv;
 *     7.3:    attach->hwpt = hwpt;
 *             xa_store(&igroup->pasid_attach, pasid, attach, GFP_KERNEL);
 *             rc = iommufd_hwpt_attach_device(hwpt, idev, pasid);
 *             if (rc)
 *                     goto err_unresv;
 *
 * and the error path does not take it back (7.3's err_free_attach /
 * err_release_pasid only undo a *first* attach, which
 * iommufd_group_first_attach() no longer reports once the attach is
 * published, so the attach stays in pasid_attach with an empty device_array).
 *
 * iommufd_hwpt_attach_device() fails for ordinary reasons: the IOMMU driver
 * refuses the domain (another IOMMU's domain, a coherency-enforcing domain for
 * a device without snoop control, a dirty-tracking domain for a device without
 * it, an aperture wider than the unit), or the attach handle's kzalloc fails.
 * The failing attach answers its errno correctly and DMA stays blocked; the
 * group, though, now names a HWPT it is not attached to, holding no reference
 * on it. Later commands on other objects trip over it, until every device of
 * the group is unbound (iommufd_group_release only WARNs):
 *
 *   - every attach of any device of the group to another HWPT fails with
 *     EINVAL; by IOAS id the automatic search finds every HWPT incompatible
 *     and the new automatic HWPT (immediate attach) is refused as well — the
 *     everyday case of a second device behind another IOMMU unit attached to
 *     an IOAS that already has an automatic HWPT: the search tries that HWPT
 *     first, the driver refuses it, and the device can then attach nowhere;
 *   - 7.3: attaching the group again to the HWPT it failed on *succeeds*
 *     without attaching anything (the published attach makes it a "second"
 *     device of the group): VFIO reports the device attached, the HWPT holds
 *     its reference and the pt_id is returned, but the group stays on the
 *     blocking domain — the device's DMA is refused (and the driver's
 *     compatibility check, which failed the first time, is never made);
 *   - 6.12: the same retry calls the driver again (the device list is empty),
 *     and succeeds only when the first failure was transient.
 *
 * Applied as: the attach path of VFIO_DEVICE_ATTACH_IOMMUFD_PT (a device not
 * yet attached) and of IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) runs _attach.ts's copy of
 * iommufd_device_attach → iommufd_device_change_pt → iommufd_device_auto_get_domain
 * (attach mode) → iommufd_hwpt_paging_alloc (immediate attach) with the faulty
 * iommufd_hw_pagetable_attach; the group's HWPT is set before
 * iommufd_hwpt_attach_device and left set when it fails; "first attach" is
 * 6.12's empty device list and 7.3's absent attach (no HWPT recorded). A device
 * object destroyed while its group, about to be released, still names a HWPT
 * with no attached device drops the stale pointer first (the kernel's WARN,
 * then kfree). Replace, detach and everything else are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOMEM, EINVAL } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdHwpt } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { attachPtIoctl, attachReservedIova, deviceAttachWith, hwptAttachDevice, hwptPagingAllocAttachedWith } from './_attach.ts';
import { mockDomainHandler, mockDomainOps } from './_mock_domain.ts';

export function createAdapter(profile: Profile): Implementation {
  /** iommufd_group_first_attach: 6.12 an empty device list; 7.3 no iommufd_attach published (no HWPT recorded). */
  const firstAttach = (idev: IommufdDevice): boolean => (profile === '6.12' ? idev.igroup.deviceList.length === 0 : idev.igroup.hwpt === null);

  /** iommufd_hw_pagetable_attach with THE FAULT. */
  const hwPagetableAttach = (hwpt: IommufdHwpt, idev: IommufdDevice): number => {
    const igroup = idev.igroup;
    const paging = findHwptPaging(hwpt);
    if (profile !== '6.12') {
      const faults = idev.ictx.faults;
      if (igroup.hwpt === null && faults.shouldFail()) return -ENOMEM; // kzalloc(attach)
      if (igroup.deviceList.length === 0) faults.absorbedStep(); // xa_insert(&attach->device_array, ...)
    }
    if (igroup.hwpt !== null && igroup.hwpt !== hwpt) return -EINVAL;
    const first = firstAttach(idev);
    const unwind = new Unwind();
    if (paging) {
      const rc = attachReservedIova(idev, paging, first);
      if (rc) return unwind.exit(rc);
      unwind.onError('err_unresv', () => ioptRemoveReservedIova(paging.ioas.iopt, idev.dev));
    }
    if (first) {
      // THE FAULT: the group's HWPT is recorded before the attach that can fail, and kept when it does.
      igroup.hwpt = hwpt;
      const rc = hwptAttachDevice(hwpt, idev);
      if (rc) return unwind.exit(rc);
    }
    refcount_inc(hwpt);
    igroup.deviceList.push(idev);
    return unwind.exit(0);
  };

  const deviceAttach = deviceAttachWith({ attach: hwPagetableAttach, allocAttached: hwptPagingAllocAttachedWith(hwPagetableAttach) });

  const testMockDomain = mockDomainHandler({ attach: deviceAttach });

  return mutantImplementation('attach-sets-group-hwpt-before-attach', profile, {
    handlers: {
      IOMMU_TEST_CMD: mockDomainOps(testMockDomain),
    },
    // vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas, attach branch (the device is not attached yet).
    vfioIoctl: attachPtIoctl({ attach: deviceAttach }),
    // iommufd_group_release: WARN_ON(igroup->hwpt) / WARN_ON(!xa_empty(&igroup->pasid_attach)), then kfree.
    object: (obj) => {
      if (obj.type !== 'DEVICE') return;
      const idev = obj as IommufdDevice;
      patchOwn(idev, 'destroy', (destroy) => () => {
        const ig = idev.igroup as IommufdDevice['igroup'] | undefined;
        if (ig && ig.ref === 1 && ig.deviceList.length === 0 && ig.hwpt !== null) ig.hwpt = null;
        destroy();
      });
    },
  });
}
