/**
 * vtd612-nest-parent-unit-unchecked (6.12 drivers/iommu/intel/iommu.c
 * intel_iommu_domain_alloc_user, the flag checks in front of
 * paging_domain_alloc).
 *
 * A nesting parent is a second-stage table a guest's first stage is later
 * nested on; only a unit with ecap.NEST can walk that, so the driver refuses
 * the flag for a device behind any other unit:
 *
 *     if (flags &
 *         (~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING)))
 *             return ERR_PTR(-EOPNOTSUPP);
 *     if (nested_parent && !nested_supported(iommu))
 *             return ERR_PTR(-EOPNOTSUPP);
 *     if (user_data || (dirty_tracking && !ssads_supported(iommu)))
 *             return ERR_PTR(-EOPNOTSUPP);
 *
 * The fault loses the middle test (the capability check of the unit the
 * asking device sits behind), as a reshuffle of these checks can: the flag is
 * then accepted for every device, and the domain is still made a nesting
 * parent (dmar_domain->nested_parent = true). 6.12 has no second line of
 * defence at attach (prepare_domain_attach_device does not look at
 * nested_parent; 7.3's paging_domain_compatible_second_stage does, and 7.3
 * allocates through other code), so the fault is 6.12 only.
 *
 * Observable: IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT for a device
 * behind vtd1 (no nesting) succeeds where the kernel answers EOPNOTSUPP. The
 * HWPT's domain joins the IOAS as a nesting parent, and __domain_mapping's
 * ERRATA_772415_SPR17 rule ("Read-only mapping is disallowed on the domain
 * which serves as the parent in a nested configuration") then refuses every
 * read-only mapping of that IOAS: a later IOMMU_IOAS_MAP with READABLE alone
 * (or IOMMU_IOAS_COPY of a read-only area into it) fails with EINVAL, for all
 * the devices using the IOAS, though no nesting can ever happen on it. Devices
 * behind vtd0/vtd2 (ecap.NEST) answer as the kernel does.
 *
 * Applied as: the machine's VT-d driver's domainAllocPaging is an own-property
 * wrapper that, for a nesting-parent request from a device whose unit has no
 * nesting (6.12 only), runs the rest of intel_iommu_domain_alloc_user itself.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EOPNOTSUPP, ENOMEM } from '../../../impl/lib/errno.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import { hwCreateDomain, type DomainConfig } from '../../../impl/platform/hw.ts';
import { IommuDomain, type IommuDriver } from '../../../impl/platform/iommu.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

function skipNestingCheck(m: Machine): void {
  const drivers = new Set<IommuDriver>([...m.instances.values()].map((i) => i.driver).filter((d) => d.name === 'intel'));
  for (const drv of drivers) {
    patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
      const inst = dev.iommu.config;
      const nestedParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      // Every other request (and a nesting unit's) goes through the reference's own code.
      if (!nestedParent || inst.nesting) return alloc(dev, flags, data);
      const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      if (flags & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING)) return { errno: -EOPNOTSUPP };
      // THE FAULT: `if (nested_parent && !nested_supported(iommu)) return ERR_PTR(-EOPNOTSUPP);` is gone.
      if (data || (dirty && !dev.caps.dirtyTracking)) return { errno: -EOPNOTSUPP };
      // paging_domain_alloc (a fallible allocation, as the driver's own)
      if (m.env.shouldFail()) return { errno: -ENOMEM };
      // dmar_domain->nested_parent = true: __domain_mapping refuses read-only maps (ERRATA_772415_SPR17)
      if (inst.domainCfg.format === 'mock-sparse') return alloc(dev, flags, data); // (never: VT-d units have a table format)
      const cfg: DomainConfig = { ...inst.domainCfg, dirty, forceWriteable: true };
      const d = hwCreateDomain(drv.hw, cfg);
      if (typeof d === 'number') return { errno: d };
      d.allocFail = () => m.env.shouldFail();
      return { errno: 0, domain: new IommuDomain('paging', drv, d, cfg, dirty, true, inst.format) };
    });
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd612-nest-parent-unit-unchecked', profile, {
    machine: (m, env) => {
      if (env.profile === '6.12') skipNestingCheck(m);
    },
  });
}
