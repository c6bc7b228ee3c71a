/**
 * nested-alloc-takes-paging-flags (drivers/iommu/iommufd/hw_pagetable.c,
 * iommufd_hwpt_nested_alloc).
 *
 * The kernel refuses every flag a nested HWPT cannot have before it looks at
 * the parent (7.3; 6.12 accepts IOMMU_HWPT_FAULT_ID_VALID only):
 *     if ((flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) ||
 *         !user_data->len || !ops->domain_alloc_nested)
 *             return ERR_PTR(-EOPNOTSUPP);
 *     if (parent->auto_domain || !parent->nest_parent ||
 *         parent->common.domain->owner != ops)
 *             return ERR_PTR(-EINVAL);
 *
 * THE FAULT: the nested path tests the flags against the paging path's mask
 * (iommufd_hwpt_paging_alloc's valid_flags: NEST_PARENT | DIRTY_TRACKING |
 * FAULT_ID_VALID, and 7.3's ALLOC_PASID) — one `valid_flags` constant hoisted
 * and shared by both allocators in a cleanup. IOMMU_HWPT_ALLOC_NEST_PARENT or
 * IOMMU_HWPT_ALLOC_DIRTY_TRACKING on a nested allocation (pt_id = a paging
 * HWPT, typed data) is no longer refused with EOPNOTSUPP: it reaches the
 * parent checks, so over an auto domain, a parent without NEST_PARENT or a
 * parent of another driver the answer is EINVAL, and over a proper nest
 * parent the flags go on to the driver's nested allocation.
 *
 * Observable: the errno of IOMMU_HWPT_ALLOC for those flags (EINVAL where the
 * kernel answers EOPNOTSUPP, deterministically, before any object exists).
 */
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { hwptAllocWith, nestedChecksWithFlags } from './_hwpt_alloc.ts';

/** THE FAULT: iommufd_hwpt_paging_alloc's valid_flags instead of FAULT_ID_VALID (| ALLOC_PASID). */
const PAGING = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID;
const nestedChecks = nestedChecksWithFlags((profile) => (profile === '6.12' ? PAGING : PAGING | IOMMU_HWPT_ALLOC_PASID));

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('nested-alloc-takes-paging-flags', profile, {
    handlers: { IOMMU_HWPT_ALLOC: hwptAllocWith({ nestedChecks }) },
  });
}
