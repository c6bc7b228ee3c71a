/**
 * claim-eperm-bumps-owner-cnt (drivers/iommu/iommu.c
 * iommu_device_claim_dma_owner, reached from iommufd_device_bind — 6.12
 * directly, 7.3 through iommufd_bind_iommu — for every VFIO_DEVICE_BIND_IOMMUFD
 * and every selftest mock device).
 *
 * DMA ownership of an iommu_group is counted per bound device of its one
 * owner (the iommufd_ctx): a device of an owned group may be claimed again
 * only by the same owner, which adds one to the count; every unbind gives one
 * back, and the last one returns the group to its default domain. The kernel
 * (6.12 and 7.3 alike):
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
 * THE FAULT: a "tidy-up" of the owned-group branch hoists the increment
 * above the owner test, so the refused claim still counts:
 *
 *     if (group->owner_cnt) {
 *             group->owner_cnt++;
 *             if (group->owner != owner)
 *                     ret = -EPERM;
 *             goto unlock_out;
 *     }
 *
 * The refused bind itself answers EPERM as it must (iommufd_device_bind /
 * iommufd_bind_iommu unwind through out_group_put and never release what they
 * did not get), so nothing shows on that command. What it left is one count
 * nobody holds and nobody will ever give back.
 *
 * Consequence (two contexts, several commands): context A binds a device of a
 * multi-device group; context B tries to bind a sibling and gets EPERM (the
 * count is now 2 with one bound device). When A's device is unbound (its VFIO
 * file closed, A's whole iommufd closed, the VM that held the file destroyed)
 * iommu_device_release_dma_owner takes the owner_cnt > 1 branch and only
 * decrements: the group stays owned by A — a context that may no longer
 * exist — and parked on its blocking domain. Every later bind of any device
 * of the group by any other context fails with EPERM for the rest of the
 * group's life (a device the user freed can never be handed to another VM or
 * back to its kernel driver), and each further refused attempt digs the hole
 * deeper. Binds from A itself still work, since the owner cookie matches.
 * Single-device groups (every selftest mock device) are never claimed twice,
 * so only multi-device groups show it.
 *
 * Applied as: the machine's claimDmaOwner (iommu_device_claim_dma_owner)
 * raises owner_cnt before it compares the owner, for an already owned group.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('claim-eperm-bumps-owner-cnt', profile, {
    machine: (m) =>
      patchOwn(m, 'claimDmaOwner', (claim) => (dev, owner) => {
        const g = dev.group;
        if (g.ownerCnt > 0) {
          // THE FAULT: group->owner_cnt++ before `if (group->owner != owner)`.
          g.ownerCnt++;
          return g.owner !== owner ? -EPERM : 0;
        }
        return claim(dev, owner);
      }),
  });
}
