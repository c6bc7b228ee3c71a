/**
 * Round 37 fault (HWPT allocation, errno): drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_paging_alloc loses the test that a NEST_PARENT HWPT cannot
 * take a fault queue.
 *
 * Correct:
 *     if ((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
 *         !device_iommu_capable(idev->dev, IOMMU_CAP_DIRTY_TRACKING))
 *             return ERR_PTR(-EOPNOTSUPP);
 *     if ((flags & IOMMU_HWPT_FAULT_ID_VALID) &&
 *         (flags & IOMMU_HWPT_ALLOC_NEST_PARENT))
 *             return ERR_PTR(-EOPNOTSUPP);
 *
 * Fault: the second test is gone. IOMMU_HWPT_ALLOC(flags = NEST_PARENT |
 * FAULT_ID_VALID) on an IOAS now allocates the object and the driver's
 * nest-parent domain (flags & ~FAULT_ID_VALID), attaches it to the IOAS, and
 * only then looks fault_id up in iommufd_hwpt_alloc.
 *
 * What a user sees (7.3 only: 6.12's valid flags have no FAULT_ID_VALID, so
 * the request is refused earlier there): the command fails with the fault
 * lookup's ENOENT (fault_id is no FAULT object), or, when the driver refuses
 * the domain first, with the driver's errno (ENOMEM under fail-nth,
 * EOPNOTSUPP ...), instead of EOPNOTSUPP; with a valid fault object a
 * nest-parent HWPT with a fault queue would be created, which the kernel
 * forbids.
 */
import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { iommufdHwptPagingAlloc } from '../../../impl/iommufd/hw_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { hwptAllocWith } from './_hwpt_alloc.ts';

/** iommufd_hwpt_paging_alloc without the FAULT_ID_VALID and NEST_PARENT test: the driver sees flags & ~FAULT_ID_VALID either way. */
const pagingAlloc: typeof iommufdHwptPagingAlloc = (ictx, ioas, idev, flags, immediateAttach, userData) =>
  iommufdHwptPagingAlloc(ictx, ioas, idev, flags & IOMMU_HWPT_ALLOC_NEST_PARENT ? flags & ~IOMMU_HWPT_FAULT_ID_VALID : flags, immediateAttach, userData);

export function createAdapter(profile: Profile): Implementation {
  if (profile !== '7.3') return mutantImplementation('hwpt-alloc-fault-id-with-nest-parent', profile, {});
  return mutantImplementation('hwpt-alloc-fault-id-with-nest-parent', profile, {
    handlers: { IOMMU_HWPT_ALLOC: hwptAllocWith({ pagingAlloc }) },
  });
}
