/**
 * R20-C3 — attach-upgrades-hwpt-coherency (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_attach and iommufd_device_do_replace; 6.12 and 7.3).
 *
 * Whether a paging HWPT enforces cache coherency (IOMMU_CAP_ENFORCE_CACHE_COHERENCY:
 * VT-d snoop control, the AMD FC bit, an SMMUv3 CANWBS master) is decided once,
 * when the HWPT is allocated for a device, before anything is mapped, and never
 * changes (hw_pagetable.c, iommufd_hwpt_paging_alloc):
 *
 *     * The cache coherency mode must be configured here and unchanged later.
 *     * Note that a HWPT (non-CC) created for a device (non-CC) can be later
 *     * reused by another device (either non-CC or CC). However, A HWPT (CC)
 *     * created for a device (CC) cannot be reused by another device (non-CC)
 *     * but only devices (CC). Instead user space in this case would need to
 *     * allocate a separate HWPT (non-CC).
 *     if (idev->enforce_cache_coherency) {
 *             rc = iommufd_hwpt_paging_enforce_cc(hwpt_paging);
 *             ...
 *
 * iommufd_hw_pagetable_attach and iommufd_device_do_replace do not touch it.
 *
 * THE FAULT: the attach-time "upgrade" of the 6.2–6.6 code comes back — the
 * block upstream removed in 6.7 when the coherency decision moved entirely
 * into the HWPT allocation ("This is an effort to try an minimize the number
 * of domains", as it was argued for on the list), re-added by a backport or a
 * revert that carried it over. After the HWPT comparison in
 * iommufd_hw_pagetable_attach:
 *
 *     if (idev->enforce_cache_coherency && hwpt_paging &&
 *         !hwpt_paging->enforce_cache_coherency) {
 *             rc = iommufd_hwpt_paging_enforce_cc(hwpt_paging);
 *             if (rc)
 *                     goto err_release_devid;     // 6.12: err_unlock
 *     }
 *
 * and in iommufd_device_do_replace, before the reserved regions, for every
 * device of the group:
 *
 *     list_for_each_entry(cur, &igroup->device_list, group_item)   // 7.3: xa_for_each(&attach->device_array, ...)
 *             if (cur->enforce_cache_coherency) {
 *                     rc = iommufd_hwpt_paging_enforce_cc(hwpt_paging);
 *                     if (rc)
 *                             goto err_unlock;
 *             }
 *
 * The driver's enforce_cache_coherency() now runs on a domain that is already
 * in use: VT-d refuses when the domain ever had a mapping or when a device of
 * a unit without snoop control is attached to it; an SMMUv3 domain refuses
 * while a non-CANWBS master is attached; AMD always agrees (FC is always set).
 * So the coherency of a shared HWPT becomes a side effect of which device
 * attached to it and when:
 *
 *   - a coherent device can no longer join a non-coherent HWPT that is in use
 *     (mappings, or a non-coherent device on it): VFIO_DEVICE_ATTACH_IOMMUFD_PT
 *     or a replace by that HWPT's id fails with EINVAL, which the kernel
 *     promises to accept; by IOAS id the automatic search skips the HWPT it
 *     would have reused and allocates another domain (pt_id names a new HWPT,
 *     the mappings are pinned into one more page table);
 *   - when the driver agrees, the HWPT is switched to enforcing under the
 *     devices already attached: a later non-coherent device is refused by a
 *     HWPT that was created non-coherent for a device just like it (EINVAL by
 *     HWPT id; a second automatic domain by IOAS id), and
 *     VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) on a type1 container changes its
 *     answer because some device attached.
 *
 * Applied as: the attach path of VFIO_DEVICE_ATTACH_IOMMUFD_PT (a device not
 * attached yet) runs a copy of iommufd_device_attach → change_pt →
 * auto_get_domain (attach mode) with the faulty iommufd_hw_pagetable_attach (a
 * new automatic HWPT, allocated for the device, needs no upgrade: the
 * reference's immediate attach is used); a VFIO replace runs _replace.ts's
 * copy with the upgrade before the group's reserved regions. The drivers'
 * answers are modelled as above (VT-d's has_mappings is set by the domain's
 * first map and never cleared); a successful upgrade marks the domain and the
 * HWPT enforcing (VT-d: SNP in every PTE from then on). Mock devices never
 * enforce coherency, so the selftest paths are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectFinalize, refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdGroup, IommufdHwpt, IommufdHwptPaging, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { PHYS_ADDR_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging, iommufdGroupDoReplaceReservedIova, iommufdHwptPagingAlloc } from '../../../impl/iommufd/hw_pagetable.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import { ioptRemoveReservedIova, ioptTableEnforceDevResvRegions } from '../../../impl/iommufd/io_pagetable.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { IommuDomain } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { deviceReplaceWith, replaceAttachIoctl } from './_replace.ts';

export function createAdapter(profile: Profile): Implementation {
  /** VT-d's dmar_domain->has_mappings: set by the first map, never cleared. */
  const hasMappings = new WeakSet<IommuDomain>();

  /** The devices the driver has attached to the HWPT's domain: every device of each group on it. */
  const attachedDevices = (hwpt: IommufdHwptPaging) =>
    [...hwpt.ictx.groups.values()].filter((g) => g.hwpt === hwpt).flatMap((g) => g.group.devices);

  /** domain->ops->enforce_cache_coherency() on a domain that may be in use. */
  const driverEnforceCc = (hwpt: IommufdHwptPaging): boolean => {
    const domain = hwpt.domain;
    if (!domain) return false;
    switch (domain.owner.name) {
      case 'intel':
        // intel_iommu_enforce_cache_coherency: force_snooping, or every attached device's unit has SC and no mapping was ever made
        if (domain.enforceCacheCoherency) return true;
        if (attachedDevices(hwpt).some((d) => !d.caps.enforceCacheCoherency) || hasMappings.has(domain)) return false;
        return domain.enforceCoherency();
      case 'amd':
        // amd_iommu_enforce_cache_coherency: "IOMMU_PTE_FC is always set"
        domain.enforceCacheCoherency = true;
        return true;
      case 'smmuv3':
        // arm_smmu_enforce_cache_coherency: every attached master is CANWBS
        if (attachedDevices(hwpt).some((d) => !d.caps.enforceCacheCoherency)) return false;
        domain.enforceCacheCoherency = true;
        return true;
      default:
        return false; // the mock has no enforce_cache_coherency op
    }
  };

  /** iommufd_hwpt_paging_enforce_cc, on an existing HWPT. */
  const enforceCc = (hwpt: IommufdHwptPaging): number => {
    if (hwpt.enforceCacheCoherency) return 0;
    if (driverEnforceCc(hwpt)) hwpt.enforceCacheCoherency = true;
    return hwpt.enforceCacheCoherency ? 0 : -EINVAL;
  };

  // ---- the attach path (device.c), with the upgrade ----

  const hwptAttachDevice = (hwpt: IommufdHwpt, idev: IommufdDevice): number => {
    if (!hwpt.domain) return -EINVAL;
    if (idev.ictx.faults.shouldFail()) return -ENOMEM; // kzalloc(handle)
    return idev.dev.machine.iommuAttachGroup(hwpt.domain, idev.igroup.group);
  };

  const attachReservedIova = (idev: IommufdDevice, hwpt: IommufdHwptPaging): number => {
    const regions = idev.dev.resvRegions();
    const rc = ioptTableEnforceDevResvRegions(hwpt.ioas.iopt, regions, idev.dev);
    if (rc) return rc;
    for (const r of regions) if (r.type === 'sw-msi' && r.start < idev.igroup.swMsiStart) idev.igroup.swMsiStart = r.start;
    if (idev.igroup.deviceList.length === 0 && idev.igroup.swMsiStart !== PHYS_ADDR_MAX) hwpt.msiCookie = true;
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
    // THE FAULT: "try to upgrade the domain we have".
    if (paging && idev.enforceCacheCoherency && !paging.enforceCacheCoherency) {
      const rc = enforceCc(paging);
      if (rc) return rc;
    }
    const unwind = new Unwind();
    if (paging) {
      const rc = attachReservedIova(idev, paging);
      if (rc) return unwind.exit(rc);
      unwind.onError('err_unresv', () => ioptRemoveReservedIova(paging.ioas.iopt, idev.dev));
    }
    if (igroup.deviceList.length === 0) {
      const rc = hwptAttachDevice(hwpt, idev);
      if (rc) return unwind.exit(rc);
      igroup.hwpt = hwpt;
    }
    refcount_inc(hwpt);
    igroup.deviceList.push(idev);
    return unwind.exit(0);
  };

  /** iommufd_device_auto_get_domain, attach mode: existing automatic HWPTs through the faulty attach. */
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
    // A HWPT allocated for this device already has the device's coherency: nothing to upgrade.
    const r = iommufdHwptPagingAlloc(idev.ictx, ioas, idev, 0, true, undefined);
    if (r.errno || !r.value) return r.errno;
    r.value.autoDomain = true;
    ptId.value = r.value.id;
    iommufdObjectFinalize(idev.ictx, r.value);
    return 0;
  };

  /** iommufd_device_attach. */
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

  /** iommufd_device_do_replace's upgrade loop (THE FAULT), then iommufd_group_do_replace_reserved_iova. */
  const upgradeThenReserve = (igroup: IommufdGroup, hwpt: IommufdHwptPaging): number => {
    for (const cur of igroup.deviceList) {
      if (!cur.enforceCacheCoherency) continue;
      const rc = enforceCc(hwpt);
      if (rc) return rc;
    }
    return iommufdGroupDoReplaceReservedIova(igroup, hwpt);
  };
  const replaceIoctl = replaceAttachIoctl(deviceReplaceWith({ replaceReservedIova: upgradeThenReserve }));

  return mutantImplementation('attach-upgrades-hwpt-coherency', profile, {
    domain: (d) => {
      patchOwn(d, 'map', (map) => (iova, pa, size, prot) => {
        const rc = map(iova, pa, size, prot);
        if (rc === 0) hasMappings.add(d);
        return rc;
      });
    },
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev) return original();
      if (vdev.iommufdAttached) return replaceIoctl(df, cmd, arg, original);
      // vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas, attach branch
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
  });
}
