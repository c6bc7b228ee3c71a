/**
 * vtd-nest-parent-tests-ssads — drivers/iommu/intel/iommu.c
 * intel_iommu_domain_alloc_second_stage() (7.3; 6.12's
 * intel_iommu_domain_alloc_user tests the two flags in two separate `if`s
 * and is left alone).
 *
 * The kernel refuses the two optional features of a second-stage domain on a
 * unit that lacks them, each flag against its own capability:
 *
 *     if (((flags & IOMMU_HWPT_ALLOC_NEST_PARENT) &&
 *          !nested_supported(iommu)) ||
 *         ((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
 *          !ssads_supported(iommu)))
 *             return ERR_PTR(-EOPNOTSUPP);
 *
 * THE FAULT: a flag tested twice — the second half of the condition, copied
 * from the first, keeps its flag:
 *
 *         ((flags & IOMMU_HWPT_ALLOC_NEST_PARENT) &&
 *          !ssads_supported(iommu)))
 *
 * A nesting parent is now also refused on a unit without second-stage A/D
 * support (SLADS, or SMPWC which ssads_supported needs too) — although
 * nesting has nothing to do with dirty tracking — and a DIRTY_TRACKING
 * request is no longer checked by the driver at all (iommufd's own
 * device_iommu_capable(IOMMU_CAP_DIRTY_TRACKING) test in
 * iommufd_hwpt_paging_alloc still stops it first, so that half does not
 * show).
 *
 * The answer depends on which device asks: only a device whose VT-d unit
 * can nest but reports no SSADS (here: a device behind vtd0 / vtd2 created
 * with dirtyTracking: false, for which the driver's capability answers, like
 * intel_iommu_capable(IOMMU_CAP_DIRTY_TRACKING), say "no A/D") sees it.
 *
 * Observable (7.3): IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT for
 * such a device fails with EOPNOTSUPP where the kernel allocates the parent
 * (and a VMM cannot build a nested configuration for it); the same request
 * for a device with SSADS, plain and dirty-tracking allocations, and the
 * units without nesting (vtd1: EOPNOTSUPP either way) are unchanged.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID } from '../../../spec/uapi/constants.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-nest-parent-tests-ssads', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'intel') continue;
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
          const supported = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID;
          if (flags & ~supported || data) return alloc(dev, flags, data);
          const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
          // THE FAULT: `(flags & NEST_PARENT) && !nested_supported || (flags & NEST_PARENT) && !ssads_supported`.
          if ((nestParent && !dev.iommu.config.nesting) || (nestParent && !dev.caps.dirtyTracking)) return { errno: -EOPNOTSUPP };
          // ... and DIRTY_TRACKING is no longer tested against SSADS by the driver.
          const asking: SimDevice =
            flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING && !dev.caps.dirtyTracking
              ? (Object.create(dev, { caps: { value: { ...dev.caps, dirtyTracking: true } } }) as SimDevice)
              : dev;
          return alloc(asking, flags, data);
        });
      }
    },
  });
}
