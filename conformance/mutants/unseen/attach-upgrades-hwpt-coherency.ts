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
 * attached yet) runs _attach.ts's copy of iommufd_device_attach → change_pt →
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
import { EINVAL, ENOMEM } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdDevice, IommufdGroup, IommufdHwpt, IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { findHwptPaging, iommufdGroupDoReplaceReservedIova } from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import type { IommuDomain } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { attachPtIoctl, attachReservedIova, deviceAttachWith, hwptAttachDevice } from './_attach.ts';
import { deviceReplaceWith } from './_replace.ts';

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
      const rc = attachReservedIova(idev, paging, igroup.deviceList.length === 0);
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

  /** iommufd_device_attach over the faulty attach; a HWPT allocated for this device already has its coherency: nothing to upgrade. */
  const deviceAttach = deviceAttachWith({ attach: hwPagetableAttach });

  /** iommufd_device_do_replace's upgrade loop (THE FAULT), then iommufd_group_do_replace_reserved_iova. */
  const upgradeThenReserve = (igroup: IommufdGroup, hwpt: IommufdHwptPaging): number => {
    for (const cur of igroup.deviceList) {
      if (!cur.enforceCacheCoherency) continue;
      const rc = enforceCc(hwpt);
      if (rc) return rc;
    }
    return iommufdGroupDoReplaceReservedIova(igroup, hwpt);
  };

  return mutantImplementation('attach-upgrades-hwpt-coherency', profile, {
    domain: (d) => {
      patchOwn(d, 'map', (map) => (iova, pa, size, prot) => {
        const rc = map(iova, pa, size, prot);
        if (rc === 0) hasMappings.add(d);
        return rc;
      });
    },
    // vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas: attach or replace, each with the upgrade.
    vfioIoctl: attachPtIoctl({ attach: deviceAttach, replace: deviceReplaceWith({ replaceReservedIova: upgradeThenReserve }) }),
  });
}
