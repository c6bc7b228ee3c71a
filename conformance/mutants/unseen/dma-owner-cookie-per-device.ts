/**
 * Fault K7 (group DMA ownership): iommufd_device_bind claims DMA ownership
 * with a per-bind cookie (iommu_device_claim_dma_owner(dev, idev) instead of
 * (dev, ictx)).
 *
 * Consequence: ownership of a multi-device iommu_group is still exclusive
 * between contexts, but two devices of one group can no longer both be bound
 * to the SAME iommufd context: the second VFIO_DEVICE_BIND_IOMMUFD fails EPERM
 * although its group is owned by that very context (no isolation is lost; a
 * VM cannot be given the whole group, which is the only legal way to assign
 * it).
 *
 * Bug class: the wrong DMA-owner cookie (the owner identifies who may share a
 * group: the iommufd_ctx, or the VFIO container/file on the legacy path);
 * iommu core compares the cookie with group->owner.
 *
 * Applied as: every claim by this machine's iommu core is made with a fresh
 * cookie (own property of the instance's machine).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('dma-owner-cookie-per-device', profile, {
    machine: (m) => patchOwn(m, 'claimDmaOwner', (claim) => (dev, _ictx) => claim(dev, { cookieOf: dev.handle })),
  });
}
