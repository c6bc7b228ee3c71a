/**
 * nested-alloc-refuses-pasid-flag (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_nested_alloc, 7.3 only).
 *
 * Since PASID attach (7.3), a nested HWPT may be allocated with
 * IOMMU_HWPT_ALLOC_PASID; the flag test comes before the parent checks:
 *
 *     if ((flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) ||
 *         !user_data->len || !ops->domain_alloc_nested)
 *             return ERR_PTR(-EOPNOTSUPP);
 *     if (parent->auto_domain || !parent->nest_parent ||
 *         parent->common.domain->owner != ops)
 *             return ERR_PTR(-EINVAL);
 *
 * The fault: the mask is the 6.12 one, `flags & ~IOMMU_HWPT_FAULT_ID_VALID`
 * (the PASID flag added to the paging path only), so every nested
 * allocation asking for PASID is EOPNOTSUPP.
 *
 * A user sees IOMMU_HWPT_ALLOC with pt_id = a HWPT_PAGING, data and
 * IOMMU_HWPT_ALLOC_PASID answer EOPNOTSUPP where 7.3 answers by the parent
 * (EINVAL for an automatic / non-NEST_PARENT / foreign parent): the parent
 * errors are hidden. 7.3 only; under 6.12 the adapter is the reference.
 *
 * Applied as: iommufd_hwpt_alloc (hwptAllocWith, _hwpt_alloc.ts) whose
 * nested checks test the flags against the 6.12 mask (7.3 only).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { hwptAllocWith, nestedChecksWithFlags } from './_hwpt_alloc.ts';

export function createAdapter(profile: Profile): Implementation {
  if (profile !== '7.3') return mutantImplementation('nested-alloc-refuses-pasid-flag', profile, {});
  // THE FAULT: flags & ~IOMMU_HWPT_FAULT_ID_VALID (PASID not allowed for nested).
  return mutantImplementation('nested-alloc-refuses-pasid-flag', profile, {
    handlers: { IOMMU_HWPT_ALLOC: hwptAllocWith({ nestedChecks: nestedChecksWithFlags(() => IOMMU_HWPT_FAULT_ID_VALID) }) },
  });
}
