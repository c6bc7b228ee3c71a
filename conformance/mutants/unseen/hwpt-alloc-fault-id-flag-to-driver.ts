/**
 * hwpt-alloc-fault-id-flag-to-driver — drivers/iommu/iommufd/hw_pagetable.c,
 * iommufd_hwpt_paging_alloc() (7.3 only).
 *
 * IOMMU_HWPT_FAULT_ID_VALID is iommufd's own flag (the HWPT reports IO page
 * faults to a fault object); the driver never sees it. Correct code:
 *
 *   hwpt->domain = ops->domain_alloc_paging_flags(idev->dev,
 *                           flags & ~IOMMU_HWPT_FAULT_ID_VALID, user_data);
 *
 * The fault: `flags` is passed whole (the mask lost when the call was
 * converted from domain_alloc_user to domain_alloc_paging_flags). Every
 * driver refuses flags it does not know with EOPNOTSUPP.
 *
 * What a user sees: IOMMU_HWPT_ALLOC of a paging HWPT with
 * IOMMU_HWPT_FAULT_ID_VALID answers EOPNOTSUPP from the driver before the
 * fault_id is looked at — the reference answers ENOENT for a fault_id that is
 * not a FAULT object (and would create the HWPT for one that is): IOPF-capable
 * paging HWPTs cannot be made at all.
 *
 * 7.3 only: 6.12's iommufd_hwpt_paging_alloc refuses FAULT_ID_VALID on a
 * paging HWPT before the driver (its valid flags lack it), so the fault has no
 * path there; the adapter is the reference under 6.12.
 *
 * Applied as: while IOMMU_HWPT_ALLOC runs with FAULT_ID_VALID in flags, each
 * driver's domain_alloc_paging_flags is given the flag.
 */
import { IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  let pending = false;
  if (profile !== '7.3') return mutantImplementation('hwpt-alloc-fault-id-flag-to-driver', profile, {});
  return mutantImplementation('hwpt-alloc-fault-id-flag-to-driver', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        const outer = pending;
        pending = (ucmd.cmd.num('flags') & IOMMU_HWPT_FAULT_ID_VALID) !== 0;
        try {
          return original(ucmd);
        } finally {
          pending = outer;
        }
      },
    },
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) =>
          // THE FAULT: flags & ~IOMMU_HWPT_FAULT_ID_VALID is not taken.
          alloc(dev, pending ? flags | IOMMU_HWPT_FAULT_ID_VALID : flags, data),
        );
      }
    },
  });
}
