/**
 * attach-group-skips-owner-check (drivers/iommu/iommu.c __iommu_attach_group,
 * reached from iommufd_hwpt_attach_device → iommu_attach_group_handle).
 *
 * The iommu core refuses to attach a group to a domain another IOMMU driver
 * allocated:
 *     if (group->domain && group->domain != group->default_domain &&
 *         group->domain != group->blocking_domain)
 *             return -EBUSY;
 *     dev = iommu_group_first_dev(group);
 *     if (!dev_has_iommu(dev) || dev_iommu_ops(dev) != domain->owner)
 *             return -EINVAL;
 *     return __iommu_group_set_domain(group, domain);
 * The fault drops the owner test (the state of the code before "iommu:
 * Validate that devices match domains"): only the EBUSY check remains, and
 * the domain's own attach_dev (domain->ops, i.e. the owner driver's) is the
 * only judge of a device it does not manage.
 *
 * iommufd relies on that -EINVAL: iommufd_device_auto_get_domain tries every
 * automatic HWPT of the IOAS and takes the first one whose attach does not
 * fail with -EINVAL. With the fault, a device behind one IOMMU (say vtd0)
 * attached to an IOAS that already has an auto HWPT of another driver
 * (smmu0, amd0 in 7.3, the mock) reuses that foreign domain. Its own IOMMU
 * then walks the foreign page table, but every invalidation of that domain
 * (unmap, domain free) is issued by the owner driver to the owner's units
 * only. The device's IOMMU keeps whatever it cached: after IOMMU_IOAS_UNMAP
 * the device still reads and writes the unmapped — and by then unpinned —
 * pages; and the foreign domain's tag (DID/ASID/domid are per driver) can
 * alias a native domain's tag in that IOTLB.
 *
 * Consequence for a user: DMA reaches memory that is no longer mapped in
 * the IOAS the device is attached to (freed, reusable pages), and the
 * HWPT id reported for the device is another driver's HWPT.
 *
 * Applied as: the machine's iommu_attach_group (Machine.iommuAttachGroup)
 * keeps the EBUSY test and the per-device attach_dev of the domain's owner,
 * without the owner test. iommu_group_replace_domain keeps the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommuDomain, IommuGroup } from '../../../impl/platform/iommu.ts';
import { EBUSY } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

interface GroupCore {
  iommuAttachGroup(domain: IommuDomain, g: IommuGroup): number;
  setGroupDomain(g: IommuGroup, domain: IommuDomain): void;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('attach-group-skips-owner-check', profile, {
    machine: (m) => {
      const core = m as unknown as GroupCore;
      patchOwn(core, 'iommuAttachGroup', () => (domain: IommuDomain, g: IommuGroup) => {
        if (g.domain !== g.defaultDomain && g.domain !== g.blockingDomain) return -EBUSY;
        // THE FAULT: no `dev_iommu_ops(first dev) != domain->owner` → -EINVAL.
        for (const dev of g.devices) {
          const rc = domain.owner.attachDev(domain, dev); // __iommu_attach_device: domain->ops->attach_dev
          if (rc) return rc;
        }
        core.setGroupDomain(g, domain);
        return 0;
      });
    },
  });
}
