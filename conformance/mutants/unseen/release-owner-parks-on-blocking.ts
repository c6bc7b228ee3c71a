/**
 * R23-C1 — release-owner-parks-on-blocking (drivers/iommu/iommu.c
 * __iommu_release_dma_ownership, behind iommu_device_release_dma_owner;
 * reached from iommufd_device_destroy when the last bound device of a group
 * is unbound: closing its VFIO device file, or the release of a kvm-vfio
 * reference that held it; 6.12 and 7.3 alike).
 *
 * When the last owner of a group lets go, the group must go back to the
 * kernel: owner cleared, then the group set to its default (DMA API)
 * domain, which is also what every later claim checks for:
 *
 *     static void __iommu_release_dma_ownership(struct iommu_group *group)
 *     {
 *             if (WARN_ON(!group->owner_cnt || !group->owner ||
 *                         !xa_empty(&group->pasid_array)))
 *                     return;
 *
 *             group->owner_cnt = 0;
 *             group->owner = NULL;
 *             __iommu_group_set_domain_nofail(group, group->default_domain);
 *     }
 *
 *     static int __iommu_take_dma_ownership(struct iommu_group *group, void *owner)
 *     {
 *             if ((group->domain && group->domain != group->default_domain) ||
 *                 !xa_empty(&group->pasid_array))
 *                     return -EBUSY;
 *             ...
 *
 * THE FAULT: the release is rewritten with the helper iommu_detach_group()
 * uses, __iommu_group_set_core_domain() ("put the group back on its core
 * domain"), and the domain switch is moved first so that the hardware stops
 * translating before the owner goes away:
 *
 *             __iommu_group_set_core_domain(group);
 *             group->owner_cnt = 0;
 *             group->owner = NULL;
 *
 * __iommu_group_set_core_domain() picks `group->owner ? blocking_domain :
 * default_domain` — and the owner is still set at that point, so the group
 * is parked on its blocking domain, with no owner.
 *
 * Nothing shows on the command that does it (the close answers 0; DMA of the
 * device is blocked either way). What breaks is every later command that
 * needs the group: iommu_device_claim_dma_owner() finds owner_cnt == 0 and
 * goes to __iommu_take_dma_ownership(), which sees a group that is not on
 * its default domain and answers EBUSY. So after a VMM closes a device (or
 * the VM it was registered with goes away), VFIO_DEVICE_BIND_IOMMUFD of that
 * device — or of any other device of its iommu_group, by this or any other
 * iommufd — fails with EBUSY for ever, and the host driver cannot get the
 * device back either (the group is stuck blocked). Two objects: the device
 * released and the device (or context) that later wants the group.
 *
 * Applied as: this machine's iommu_device_release_dma_owner (Machine
 * releaseDmaOwner) decrements as the reference's, and on the last owner's
 * release sets the group's domain as __iommu_group_set_core_domain() would
 * with the owner still set (the blocking domain), then clears the owner.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommuDomain, IommuGroup } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** Machine's private iommu core helper (__iommu_group_set_domain_nofail): programs every device of the group. */
interface SetGroupDomain {
  setGroupDomain(g: IommuGroup, domain: IommuDomain): void;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('release-owner-parks-on-blocking', profile, {
    machine: (m) =>
      patchOwn(m, 'releaseDmaOwner', (release) => (dev) => {
        const g = dev.group;
        if (g.ownerCnt !== 1 || g.owner === null) return release(dev); // owner_cnt > 1: owner_cnt--; 0: the reference's WARN path
        // __iommu_release_dma_ownership with the fault: the core domain is chosen while the owner is still set.
        const core = g.owner ? g.blockingDomain : g.defaultDomain;
        (m as unknown as SetGroupDomain).setGroupDomain(g, core);
        g.ownerCnt = 0;
        g.owner = null;
      }),
  });
}
