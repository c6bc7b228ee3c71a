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
 * yet attached) and of IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) runs a copy of
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
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import {
  iommufdGetObject,
  iommufdObjectAbortAndDestroy,
  iommufdObjectAlloc,
  iommufdObjectFinalize,
  refcount_inc,
  type Result,
} from '../../../impl/iommufd/object.ts';
import type { IommufdCtx, IommufdDevice, IommufdHwpt, IommufdHwptPaging, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { PHYS_ADDR_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging, iommufdHwPagetableDetach, iommufdHwptPagingEnforceCc } from '../../../impl/iommufd/hw_pagetable.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import { ioptRemoveReservedIova, ioptTableAddDomain, ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';
import { mockDomainHandler } from './_mock_domain.ts';

export function createAdapter(profile: Profile): Implementation {
  /** iommufd_group_first_attach: 6.12 an empty device list; 7.3 no iommufd_attach published (no HWPT recorded). */
  const firstAttach = (idev: IommufdDevice): boolean => (profile === '6.12' ? idev.igroup.deviceList.length === 0 : idev.igroup.hwpt === null);

  /** iommufd_hwpt_attach_device: the domain check, the handle's kzalloc, iommu_attach_group_handle. */
  const hwptAttachDevice = (hwpt: IommufdHwpt, idev: IommufdDevice): number => {
    if (!hwpt.domain) return -EINVAL;
    if (idev.ictx.faults.shouldFail()) return -ENOMEM; // kzalloc(handle)
    return idev.dev.machine.iommuAttachGroup(hwpt.domain, idev.igroup.group);
  };

  /** iommufd_device_attach_reserved_iova (with iommufd_group_setup_msi on the group's first attach). */
  const attachReservedIova = (idev: IommufdDevice, hwpt: IommufdHwptPaging, first: boolean): number => {
    const regions = idev.dev.resvRegions();
    const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, regions, idev.dev);
    if (rc) return rc;
    for (const r of regions) if (r.type === 'sw-msi' && r.start < idev.igroup.swMsiStart) idev.igroup.swMsiStart = r.start;
    if (first && idev.igroup.swMsiStart !== PHYS_ADDR_MAX) hwpt.msiCookie = true;
    return 0;
  };

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

  /** iommufd_hwpt_paging_alloc(flags 0, immediate_attach) of an automatic HWPT, attaching with the faulty attach. */
  const hwptPagingAllocAttached = (ictx: IommufdCtx, ioas: IommufdIoas, idev: IommufdDevice): Result<IommufdHwptPaging> => {
    const hwpt: IommufdHwptPaging = {
      type: 'HWPT_PAGING',
      id: 0,
      users: 0,
      ictx,
      ioas,
      domain: null,
      autoDomain: false,
      nestParent: false,
      enforceCacheCoherency: false,
      pasidCompat: false,
      msiCookie: false,
      fault: null,
      inList: false,
      destroy: () => hwptPagingDestroy(hwpt),
    };
    const rc0 = iommufdObjectAlloc(ictx, hwpt);
    if (rc0) return { errno: rc0 };
    const unwind = new Unwind();
    unwind.onError('out_abort', () => iommufdObjectAbortAndDestroy(ictx, hwpt));
    refcount_inc(ioas);
    const alloc = idev.dev.iommu.driver.domainAllocPaging(idev.dev, 0, undefined);
    if (!('domain' in alloc)) return unwind.exit({ errno: alloc.errno });
    hwpt.domain = alloc.domain;
    if (idev.enforceCacheCoherency) {
      const rc = iommufdHwptPagingEnforceCc(hwpt);
      if (rc) return unwind.exit({ errno: rc });
    }
    const rcAttach = hwPagetableAttach(hwpt, idev);
    if (rcAttach) return unwind.exit({ errno: rcAttach });
    unwind.onError('out_detach', () => iommufdHwPagetableDetach(idev));
    const rc = ioptTableAddDomain(ioas.iopt, hwpt.domain);
    if (rc) return unwind.exit({ errno: rc });
    ioas.hwptList.push(hwpt);
    hwpt.inList = true;
    return unwind.exit({ errno: 0, value: hwpt });
  };

  /** iommufd_device_auto_get_domain in attach mode. */
  const autoGetDomain = (idev: IommufdDevice, ioas: IommufdIoas, ptId: { value: number }): number => {
    for (const hwpt of [...ioas.hwptList]) {
      if (!hwpt.autoDomain) continue;
      const rc = hwPagetableAttach(hwpt, idev);
      if (rc) {
        if (rc === -EINVAL) continue;
        return rc;
      }
      ptId.value = hwpt.id;
      return 0;
    }
    const r = hwptPagingAllocAttached(idev.ictx, ioas, idev);
    if (r.errno || !r.value) return r.errno;
    r.value.autoDomain = true;
    ptId.value = r.value.id;
    iommufdObjectFinalize(idev.ictx, r.value);
    return 0;
  };

  /** iommufd_device_attach → iommufd_device_change_pt(iommufd_device_do_attach). */
  const deviceAttach = (idev: IommufdDevice, ptId: { value: number }): number => {
    const pt = iommufdGetObject(idev.ictx, ptId.value, 'ANY');
    if (pt.errno || !pt.value) return pt.errno;
    let rc: number;
    switch (pt.value.type) {
      case 'HWPT_NESTED':
      case 'HWPT_PAGING':
        rc = hwPagetableAttach(pt.value as IommufdHwpt, idev);
        break;
      case 'IOAS':
        rc = autoGetDomain(idev, pt.value as IommufdIoas, ptId);
        break;
      default:
        return -EINVAL;
    }
    if (rc) return rc;
    refcount_inc(idev);
    return 0;
  };

  const testMockDomain = mockDomainHandler({ attach: deviceAttach });

  return mutantImplementation('attach-sets-group-hwpt-before-attach', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        return op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? testMockDomain(ucmd) : original(ucmd);
      },
    },
    // vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas, attach branch (the device is not attached yet).
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || vdev.iommufdAttached) return original();
      const attach = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const flags = attach.num('flags');
      if (df.profile === '6.12') {
        if (flags) return -EINVAL;
      } else {
        if (flags & ~VFIO_DEVICE_ATTACH_PASID) return -EINVAL;
        if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP;
      }
      const ptId = { value: attach.num('pt_id') };
      const rc = deviceAttach(idev, ptId);
      if (rc) return rc;
      vdev.iommufdAttached = true;
      attach.set('pt_id', ptId.value);
      if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) {
        // out_detach: vfio_iommufd_physical_detach_ioas
        iommufdDeviceDetach(idev);
        vdev.iommufdAttached = false;
        return -EFAULT;
      }
      return 0;
    },
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
