/**
 * Round 5a fault (group DMA ownership): iommu_device_release_dma_owner()
 * (drivers/iommu/iommu.c) loses its `if (group->owner_cnt > 1)
 * group->owner_cnt--;` branch and always calls
 * __iommu_release_dma_ownership(): the first device of a multi-device group
 * to be unbound releases the ownership of the whole group (owner = NULL,
 * owner_cnt = 0, the group back on its default domain) although its siblings
 * are still bound to the iommufd, and one of them may be attached.
 *
 * Consequence: the sibling that is still bound and attached loses its HWPT
 * under iommufd's feet (its DMA is no longer translated by the IOAS it was
 * attached to), and the group is claimable again: another iommufd (another
 * VM) can now bind the unbound device, which moves the group to its blocking
 * domain and then attaches the group to ITS domain. The sibling, still bound
 * to the first context, then DMAs through the second context's page table,
 * into the second VM's memory — exactly what group-granular DMA ownership
 * exists to prevent.
 *
 * Bug class: a per-group owner refcount handled as a boolean (the iommu core's
 * owner_cnt, cf. "iommu: Fix race condition during default domain allocation"
 * / the DMA-ownership rework of v5.19).
 *
 * Applied as: this machine's releaseDmaOwner releases the group outright.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('release-owner-ignores-count', profile, {
    machine: (m) =>
      patchOwn(m, 'releaseDmaOwner', (release) => (dev) => {
        if (dev.group.ownerCnt > 1) dev.group.ownerCnt = 1; // the fault: no owner_cnt-- branch
        release(dev);
      }),
  });
}
