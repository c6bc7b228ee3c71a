/**
 * bind-claim-fail-releases-owner (drivers/iommu/iommufd/device.c
 * iommufd_device_bind; 7.3: its IOMMU half, iommufd_bind_iommu).
 *
 * Binding claims DMA ownership of the device's whole iommu_group for the
 * iommufd_ctx; the error labels unwind in reverse order:
 *
 *     rc = iommu_device_claim_dma_owner(dev, ictx);
 *     if (rc)
 *             goto out_group_put;
 *     ...
 * out_release_owner:
 *     iommu_device_release_dma_owner(dev);
 * out_group_put:
 *     iommufd_put_group(igroup);
 *
 * The fault is the classic wrong label: a failed claim jumps to
 * out_release_owner (the label the next step uses), so the bind that was
 * refused because *another* context owns the group releases one count of
 * that other context's ownership on its way out.
 * iommu_device_release_dma_owner does not know whose claim it drops: with
 * owner_cnt > 1 it decrements it; with owner_cnt == 1 it returns the group
 * to its default (DMA-API) domain and forgets the owner — unless a domain is
 * attached through a handle (group->pasid_array not empty), where
 * __iommu_release_dma_ownership WARNs and does nothing.
 *
 * Consequence: context A binds device a of a multi-device group; context B
 * tries to bind the sibling b and gets EPERM, as it should — but the group
 * is now unowned (or owned one count short). B's retry succeeds, so one
 * iommu_group is driven by two iommufd contexts: whichever attaches last
 * decides where both devices DMA (a, still bound to A, reads and writes B's
 * IOAS), the other's detach pulls the group from under it, and the first
 * unbind of A drops ownership while A still has devices bound. In the gap the
 * group sits in its kernel DMA-API domain while A's device is user-driven.
 *
 * Applied as: after a failed iommu_device_claim_dma_owner in the bind path,
 * iommu_device_release_dma_owner(dev) runs once, with the iommu core's own
 * semantics (decrement; or release to the default domain; or WARN and keep
 * when a domain is attached).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** iommu_device_release_dma_owner as drivers/iommu/iommu.c does it. */
function iommuDeviceReleaseDmaOwner(m: Machine, dev: SimDevice): void {
  const g = dev.group;
  if (g.ownerCnt > 1) {
    g.ownerCnt--;
    return;
  }
  // __iommu_release_dma_ownership: WARN_ON(!owner_cnt || !owner || !xa_empty(&group->pasid_array))
  if (g.ownerCnt === 0 || g.owner === null) return;
  if (g.domain !== g.blockingDomain && g.domain !== g.defaultDomain) return; // an attach handle is installed
  m.releaseDmaOwner(dev); // owner_cnt = 0, owner = NULL, back to the default domain
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('bind-claim-fail-releases-owner', profile, {
    machine: (m) => {
      patchOwn(m, 'claimDmaOwner', (claim) => (dev, owner) => {
        const rc = claim(dev, owner);
        // THE FAULT: `if (rc) goto out_release_owner;` — the refused claim releases someone else's.
        if (rc) iommuDeviceReleaseDmaOwner(m, dev);
        return rc;
      });
    },
  });
}
