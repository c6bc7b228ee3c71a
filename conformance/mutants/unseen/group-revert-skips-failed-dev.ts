/**
 * group-revert-skips-failed-dev — drivers/iommu/iommu.c
 * __iommu_group_set_domain_internal(), err_revert (6.12), together with the
 * 6.12 VT-d driver's intel_iommu_attach_device().
 *
 * Replacing the domain of a group (iommu_group_replace_domain, what
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT does for a device that is already attached,
 * and IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) calls attach_dev() device by
 * device. A driver may tear the device's old translation down before it
 * finds out it cannot take the new domain; 6.12 VT-d does exactly that:
 *
 *     static int intel_iommu_attach_device(struct iommu_domain *domain,
 *                                          struct device *dev)
 *     {
 *             device_block_translation(dev);
 *             ret = prepare_domain_attach_device(domain, dev);
 *             if (ret)
 *                     return ret;
 *             ...
 *
 * so the core's unwind must give the old domain back to every device it
 * touched, the one that failed included:
 *
 *     err_revert:
 *             last_gdev = gdev;
 *             for_each_group_device(group, gdev) {
 *                     if (group->domain)
 *                             WARN_ON(__iommu_device_set_domain(group, gdev->dev,
 *                                     group->domain, IOMMU_SET_DOMAIN_MUST_SUCCEED));
 *                     if (gdev == last_gdev)
 *                             break;
 *             }
 *
 * THE FAULT: the loop's exit test is moved in front of the re-attach, on the
 * theory that "the device that failed was never switched, no need to revert
 * it":
 *
 *             for_each_group_device(group, gdev) {
 *                     if (gdev == last_gdev)
 *                             break;
 *                     if (group->domain)
 *                             WARN_ON(__iommu_device_set_domain(...));
 *             }
 *
 * That holds for drivers that check before they touch anything (AMD's and
 * SMMUv3's attach refuse first), not for 6.12 VT-d: the device that refused
 * is left with its context entry cleared (device_block_translation), while
 * group->domain, the iommufd HWPT it is attached to, its HWPT's users and
 * the answer userspace got (EINVAL: "still attached to the old HWPT") all
 * say it is on its old domain.
 *
 * Why it takes several commands and two objects: a device is attached to an
 * IOAS (its HWPT A); a replace onto another HWPT B that its VT-d unit cannot
 * take (B enforces snooping and the device's unit has no SC, B's address
 * width is beyond the unit's, …) fails with EINVAL, as it should; and from
 * then on every DMA of the device faults as blocked although IOAS A still
 * maps the IOVA and translate (a walk of A's table) says so. It lasts until
 * the device is detached and attached again, or replaced successfully.
 * First attaches (the group on its blocking domain) are unaffected: the
 * device was blocked before and stays so.
 *
 * Applied as (6.12 only; 7.3's VT-d paging domains come from a different
 * attach path): after a failed replace of a group whose devices are behind a
 * VT-d unit, the device whose attach_dev refused the domain has its hardware
 * context cleared (intel's device_block_translation), and the core does not
 * put it back on the group's domain.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommuDomain, IommuGroup } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The first device of the group whose driver attach_dev refuses `domain` (the core's last_gdev). */
function refusingDevice(domain: IommuDomain, g: IommuGroup) {
  if (!domain.hw || domain.owner !== g.iommu.driver) return undefined;
  for (const dev of g.devices) if (domain.owner.attachDev(domain, dev) !== 0) return dev;
  return undefined;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('group-revert-skips-failed-dev', profile, {
    machine: (m) => {
      if (profile !== '6.12') return;
      patchOwn(m, 'iommuReplaceGroup', (replace) => (g, domain) => {
        // intel_iommu_attach_device: device_block_translation() runs before the compatibility check.
        const failing = g.iommu.driver.name === 'intel' ? refusingDevice(domain, g) : undefined;
        const rc = replace(g, domain);
        // THE FAULT: err_revert stops before re-attaching last_gdev, which VT-d left blocked.
        if (rc !== 0 && failing !== undefined && g.domain !== g.blockingDomain) g.iommu.hw.attach(failing.handle, null);
        return rc;
      });
    },
  });
}
