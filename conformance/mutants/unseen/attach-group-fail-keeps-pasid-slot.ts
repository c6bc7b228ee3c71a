/**
 * R22-C3 — attach-group-fail-keeps-pasid-slot (drivers/iommu/iommu.c,
 * iommu_attach_group_handle(); both profiles).
 *
 * iommufd attaches a group to a paging domain through
 * iommu_attach_group_handle(), which first claims slot IOMMU_NO_PASID of
 * group->pasid_array for the attach handle and only then asks the driver
 * (__iommu_attach_group → attach_dev). When the driver refuses, the slot must
 * be given back. 7.3:
 *
 *     ret = xa_insert(&group->pasid_array,
 *                     IOMMU_NO_PASID, XA_ZERO_ENTRY, GFP_KERNEL);
 *     if (ret)
 *             goto out_unlock;
 *
 *     ret = __iommu_attach_group(domain, group);
 *     if (ret) {
 *             xa_release(&group->pasid_array, IOMMU_NO_PASID);
 *             goto out_unlock;
 *     }
 *     WARN_ON(xa_is_err(xa_store(&group->pasid_array,
 *                                IOMMU_NO_PASID, entry, GFP_KERNEL)));
 *
 * (6.12 inserts the handle itself and has `goto err_erase` → xa_erase()).
 *
 * THE FAULT: the failure branch only unlocks:
 *
 *     ret = __iommu_attach_group(domain, group);
 *     if (ret)
 *             goto out_unlock;
 *
 * (on 6.12: both error checks `goto err_unlock`, skipping err_erase). The
 * reasoning behind it is plausible: a reserved entry reads as NULL through
 * xa_load(), so "nobody can see it". But xa_insert() and xa_empty() do see
 * it, and nothing ever erases it: iommu_detach_group_handle() is only called
 * for a group that attached successfully.
 *
 * Two objects, several commands. A device's group fails to attach to one
 * HWPT — an everyday event: a HWPT allocated for a device of another IOMMU
 * (domain->owner mismatch), one that enforces snooping for a device whose
 * unit has no snoop control, a dirty-tracking HWPT for a device without
 * dirty tracking, an address width the unit cannot walk; or just the
 * automatic-domain search of VFIO_DEVICE_ATTACH_IOMMUFD_PT(pt_id = IOAS)
 * trying an incompatible automatic HWPT of that IOAS first. The failure is
 * reported correctly (EINVAL, "try another one"). But from then on:
 *   - every later attach of that group, to any compatible HWPT, fails with
 *     EBUSY at the xa_insert() (in the automatic-domain search the EINVAL of
 *     the incompatible HWPT is skipped and the new automatic domain then
 *     fails with EBUSY: a device can never join an IOAS whose first automatic
 *     domain belongs to an incompatible unit);
 *   - the group's DMA ownership can never be given back:
 *     __iommu_release_dma_ownership() WARNs on the non-empty pasid_array and
 *     returns, so after the device is unbound and its iommufd closed, the
 *     group stays owned by the dead context — binding any device of the group
 *     to another iommufd fails with EPERM, and the group never returns to its
 *     default domain (the host driver cannot take the device back either).
 *
 * Applied as: the machine's iommu_attach_group_handle (Machine
 * iommuAttachGroup) remembers every group whose attach the core or driver
 * refused, and answers EBUSY for such a group before trying anything (the
 * xa_insert); iommu_device_release_dma_owner (releaseDmaOwner) of such a
 * group's last owner does nothing (the WARN); __iommu_take_dma_ownership
 * refuses it with EBUSY; iommu_detach_group_handle (iommuDetachGroup) would
 * erase the slot.
 */
import { EBUSY } from '../../../impl/lib/errno.ts';
import type { IommuGroup } from '../../../impl/platform/iommu.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('attach-group-fail-keeps-pasid-slot', profile, {
    machine: (m) => {
      /** Groups whose pasid_array still holds the reserved IOMMU_NO_PASID slot of a failed attach. */
      const leftover = new WeakSet<IommuGroup>();
      patchOwn(m, 'iommuAttachGroup', (attach) => (domain, g) => {
        // xa_insert(&group->pasid_array, IOMMU_NO_PASID, ...): the slot is taken.
        if (leftover.has(g)) return -EBUSY;
        const rc = attach(domain, g);
        // THE FAULT: no xa_release() when __iommu_attach_group() fails.
        if (rc) leftover.add(g);
        return rc;
      });
      patchOwn(m, 'iommuDetachGroup', (detach) => (g) => {
        leftover.delete(g); // xa_erase(&group->pasid_array, IOMMU_NO_PASID)
        detach(g);
      });
      patchOwn(m, 'releaseDmaOwner', (release) => (dev) => {
        const g = dev.group;
        // __iommu_release_dma_ownership: WARN_ON(!xa_empty(&group->pasid_array)) → return.
        if (g.ownerCnt === 1 && leftover.has(g)) return;
        release(dev);
      });
      patchOwn(m, 'claimDmaOwner', (claim) => (dev, owner) => {
        const g = dev.group;
        // __iommu_take_dma_ownership: !xa_empty(&group->pasid_array) → -EBUSY.
        if (g.ownerCnt === 0 && leftover.has(g)) return -EBUSY;
        return claim(dev, owner);
      });
    },
  });
}
