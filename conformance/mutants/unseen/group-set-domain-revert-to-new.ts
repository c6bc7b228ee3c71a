/**
 * H8.2 — group-set-domain-revert-to-new (drivers/iommu/iommu.c
 * __iommu_group_set_domain_internal, err_revert).
 *
 * Attaching or replacing the domain of a group programs its devices one by
 * one (__iommu_device_set_domain → the driver's attach_dev). When a device
 * refuses (its IOMMU cannot enforce the domain's cache coherency, its unit
 * lacks the domain's dirty tracking, …) the core must put every device it
 * already switched back on the group's current domain before returning the
 * error:
 *     err_revert:
 *             last_gdev = gdev;
 *             for_each_group_device(group, gdev) {
 *                     if (group->domain)
 *                             WARN_ON(__iommu_device_set_domain(group, gdev->dev,
 *                                     group->domain, NULL, IOMMU_SET_DOMAIN_MUST_SUCCEED));
 *                     …
 *                     if (gdev == last_gdev)
 *                             break;
 *             }
 * The fault reverts to new_domain (the domain being backed out of) instead
 * of group->domain: the devices ahead of the refusing one are "reverted"
 * onto the new domain, i.e. stay there, while the call fails and the core
 * and iommufd still record the group on its old domain.
 *
 * Consequence: after a failed VFIO_DEVICE_ATTACH_IOMMUFD_PT replace of a
 * multi-device group (one device coherent, a sibling not, onto an enforcing
 * HWPT; or a dirty-tracking HWPT and a sibling without it), the first
 * devices DMA through the HWPT the replace was refused for — another IOAS,
 * possibly another iommufd context's memory — and no longer reach their own
 * IOAS. Every uAPI answer (the errno, the HWPT the device is attached to,
 * translate) says they are on the old domain.
 *
 * Applied as: after a failed attach or replace of a group that the domain's
 * own driver partly accepted, the hardware context of each device that
 * accepted it is set to the new domain.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommuDomain, IommuGroup } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The devices the driver switched before the first one that refused (none when all or none accept). */
function switchedBeforeRefusal(domain: IommuDomain, g: IommuGroup) {
  if (!domain.hw || domain.owner !== g.iommu.driver) return [];
  const done = [];
  for (const dev of g.devices) {
    if (domain.owner.attachDev(domain, dev) !== 0) return done;
    done.push(dev);
  }
  return [];
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('group-set-domain-revert-to-new', profile, {
    machine: (m) => {
      const revert = (g: IommuGroup, domain: IommuDomain): void => {
        // THE FAULT: err_revert sets new_domain again instead of group->domain.
        for (const dev of switchedBeforeRefusal(domain, g)) g.iommu.hw.attach(dev.handle, domain.hw ?? null);
      };
      patchOwn(m, 'iommuReplaceGroup', (replace) => (g, domain) => {
        const rc = replace(g, domain);
        if (rc !== 0) revert(g, domain);
        return rc;
      });
      patchOwn(m, 'iommuAttachGroup', (attach) => (domain, g) => {
        const busy = g.domain !== g.defaultDomain && g.domain !== g.blockingDomain;
        const rc = attach(domain, g);
        if (rc !== 0 && !busy) revert(g, domain);
        return rc;
      });
    },
  });
}
