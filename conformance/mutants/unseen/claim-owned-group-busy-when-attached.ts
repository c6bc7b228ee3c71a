/**
 * claim-owned-group-busy-when-attached — drivers/iommu/iommu.c
 * iommu_device_claim_dma_owner(), reached from iommufd_device_bind (6.12
 * directly, 7.3 through iommufd_bind_iommu) for every VFIO_DEVICE_BIND_IOMMUFD.
 *
 * DMA ownership belongs to the iommu_group and is counted per bound device of
 * its one owner. Only the first claim of a group needs the group to be in its
 * default domain (__iommu_take_dma_ownership: EBUSY otherwise) and parks it
 * on the blocking domain; a further device of an already owned group is
 * claimed by the same owner with a plain increment, whatever domain the group
 * is attached to by then (6.12 and 7.3 alike):
 *
 *     mutex_lock(&group->mutex);
 *     if (group->owner_cnt) {
 *             if (group->owner != owner) {
 *                     ret = -EPERM;
 *                     goto unlock_out;
 *             }
 *             group->owner_cnt++;
 *             goto unlock_out;
 *     }
 *     ret = __iommu_take_dma_ownership(group, owner);
 *
 * THE FAULT: the "is the group free to be handed out" test of
 * __iommu_take_dma_ownership is hoisted in front of both cases (a hardening
 * that means to refuse claims on a group someone is using for DMA):
 *
 *     mutex_lock(&group->mutex);
 *     if (group->domain && group->domain != group->default_domain &&
 *         group->domain != group->blocking_domain) {
 *             ret = -EBUSY;
 *             goto unlock_out;
 *     }
 *     if (group->owner_cnt) {
 *             ...
 *
 * A first claim never meets an attached group (an unowned group is in its
 * default domain), so nothing changes there; but the owner's own further
 * claim is now refused once the owner has attached the group to a HWPT.
 *
 * Consequence, over several commands and two devices of a group: an iommufd
 * context binds device A of a multi-device group and attaches it (the whole
 * group now translates through A's HWPT); binding the sibling B to the same
 * context — the normal way a VMM brings up the second function of a group —
 * fails with EBUSY, although B's group is owned by that very context and B
 * could then only be attached to the same HWPT. It works again only if A is
 * detached first (the group goes back to the blocking domain). A different
 * context still gets EBUSY instead of EPERM while the group is attached.
 *
 * Applied as: the machine's claimDmaOwner (iommu_device_claim_dma_owner)
 * answers EBUSY for a group on a domain other than its default or blocking
 * domain before it looks at the owner.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('claim-owned-group-busy-when-attached', profile, {
    machine: (m) =>
      patchOwn(m, 'claimDmaOwner', (claim) => (dev, owner) => {
        const g = dev.group;
        // THE FAULT: __iommu_take_dma_ownership's EBUSY test, hoisted above the owned-group branch.
        if (g.domain !== g.defaultDomain && g.domain !== g.blockingDomain) return -EBUSY;
        return claim(dev, owner);
      }),
  });
}
