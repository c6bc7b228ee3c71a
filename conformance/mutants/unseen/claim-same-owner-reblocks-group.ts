/**
 * R21-C4 — claim-same-owner-reblocks-group (drivers/iommu/iommu.c
 * iommu_device_claim_dma_owner, reached from iommufd_device_bind — 6.12
 * directly, 7.3 through iommufd_bind_iommu — for every
 * VFIO_DEVICE_BIND_IOMMUFD; 6.12 and 7.3 alike).
 *
 * DMA ownership belongs to the iommu_group. The first claim moves the group
 * from its default domain to its blocking domain; every further device of the
 * group that the same owner binds only adds to the count, because by then
 * the owner may have attached the group to one of its own domains and is
 * doing DMA through it:
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
 * THE FAULT: a rework that folds the two claim paths into one ("every
 * claimed device starts out blocked") keeps the EBUSY test for the first
 * claim and the owner test for the others, but parks the group on its
 * blocking domain on both paths:
 *
 *     if (group->owner_cnt) {
 *             if (group->owner != owner) {
 *                     ret = -EPERM;
 *                     goto unlock_out;
 *             }
 *     } else if (group->domain && group->domain != group->default_domain) {
 *             ret = -EBUSY;
 *             goto unlock_out;
 *     }
 *     ret = __iommu_group_set_domain(group, group->blocking_domain);
 *     if (ret)
 *             goto unlock_out;
 *     group->owner = owner;
 *     group->owner_cnt++;
 *
 * For the first claim nothing changes. For a further claim of an owned group
 * that its owner has attached, __iommu_group_set_domain re-programs every
 * device of the group to the blocking domain behind iommufd's back: the
 * group's attach handle stays in group->pasid_array, iommufd still has the
 * group on its HWPT (igroup / attach->hwpt), and nothing tells anyone.
 *
 * Consequence (two devices of one group, several commands): a VMM binds and
 * attaches the first device of a multi-device group and starts using it; when
 * it binds the second device (QEMU sets up one device after the other), the
 * first device's DMA stops — it faults as blocked although its IOAS maps the
 * addresses and its attachment is intact. Attaching the second device to the
 * same HWPT does not repair it (only the group's first attach programs the
 * IOMMU), so both devices are "attached" and neither can DMA, until the group
 * is moved by a replace or detached and attached again. Single-device groups
 * (every selftest mock device) never see a further claim.
 *
 * Applied as: this machine's iommu_device_claim_dma_owner, for a further claim
 * by the group's owner, sets the group to its blocking domain before counting
 * the claim.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import type { IommuDomain, IommuGroup, SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The machine's __iommu_group_set_domain (private to Machine; an own method of the instance). */
type SetGroupDomain = (g: IommuGroup, domain: IommuDomain) => void;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('claim-same-owner-reblocks-group', profile, {
    machine: (m) => {
      const setGroupDomain = (m as unknown as { setGroupDomain: SetGroupDomain }).setGroupDomain.bind(m);
      patchOwn(m, 'claimDmaOwner', (claim) => (dev: SimDevice, owner: unknown) => {
        const g = dev.group;
        if (g.ownerCnt === 0) return claim(dev, owner); // __iommu_take_dma_ownership, unchanged
        if (g.owner !== owner) return -EPERM;
        // THE FAULT: the further claim parks the (possibly attached) group on its blocking domain too.
        setGroupDomain(g, g.blockingDomain);
        g.ownerCnt++;
        return 0;
      });
    },
  });
}
