/**
 * R16-B2 — release-domain-first-group-dev (drivers/iommu/iommu.c,
 * iommu_deinit_device(), reached from iommu_release_device() →
 * __iommu_group_remove_device() when a device goes away).
 *
 * Before the driver's release_device() runs, the core parks the departing
 * device on the driver's release domain (the blocking domain on VT-d; on
 * 7.3 also AMD and SMMUv3) so that the hardware stops using a domain the
 * device is about to forget. Only that device: its group siblings stay on
 * the group's domain. The kernel (7.3; 6.12 is the same without the
 * identity/require_direct swap):
 *
 *     if (!dev->iommu->attach_deferred && ops->release_domain) {
 *             struct iommu_domain *release_domain = ops->release_domain;
 *             ...
 *             release_domain->ops->attach_dev(release_domain, dev,
 *                                             group->domain);
 *     }
 *
 * THE FAULT: the device argument is taken from the group, as
 * __iommu_attach_group() does it a few hundred lines up:
 *
 *             release_domain->ops->attach_dev(release_domain,
 *                                             iommu_group_first_dev(group),
 *                                             group->domain);
 *
 * __iommu_group_remove_device() has already list_del()'d the departing
 * device, so iommu_group_first_dev() is the first device that stays. That
 * device is switched to the blocking domain in the hardware (context/PASID
 * entry, DTE or STE torn down, flushed), while group->domain, iommufd's
 * igroup->hwpt and the device's own attachment all still say it is on its
 * paging domain. The departing device's own context is cleared anyway by
 * the driver's release_device(), so nothing looks wrong on the device that
 * left.
 *
 * Consequence (two objects, two steps): hot-unplugging one device of a
 * multi-device group — a sibling nobody even opened — silently cuts the
 * DMA of another device of the group that is bound and attached: its DMA
 * faults as blocked although its IOAS maps the range and `translate` (the
 * group's domain) says it is mapped. It stays so until the group's domain
 * is changed again (replace, detach/attach). Single-device groups and
 * drivers without a release domain (the selftest mock; 6.12 AMD and SMMUv3,
 * which block inside their release_device()) are unaffected.
 *
 * Applied as: after a successful device_remove of a device of a group that
 * still has devices, on a unit whose driver has a release domain in the
 * profile (6.12: intel; 7.3: intel, amd, smmuv3), the hardware context of
 * the group's first remaining device is set to no domain (blocked).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** Drivers whose iommu_ops carry .release_domain in the profile's kernel. */
const RELEASE_DOMAIN: { readonly [p in Profile]: readonly string[] } = {
  '6.12': ['intel'],
  '7.3': ['intel', 'amd', 'smmuv3'],
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('release-domain-first-group-dev', profile, {
    machine: (m) => {
      patchOwn(m, 'deviceRemove', (orig) => (handle: number, busy: (dev: SimDevice) => string | undefined) => {
        const dev = m.device(handle);
        const r = orig(handle, busy);
        if (!r.ok || dev === undefined) return r;
        const g = dev.group;
        if (!RELEASE_DOMAIN[profile].includes(dev.iommu.driver.name)) return r;
        // iommu_group_first_dev(group): the departing device is already off the list.
        const first = g.devices[0];
        if (first === undefined) return r;
        // THE FAULT: release_domain->ops->attach_dev(release_domain, first, group->domain)
        first.iommu.hw.attach(first.handle, null);
        return r;
      });
    },
  });
}
