/**
 * R32-B2 — smmu-alloc-switch-masks-pasid
 * (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_domain_alloc_paging_flags(), 7.3; IOMMU_HWPT_ALLOC on an SMMUv3
 * device).
 *
 * 7.3 picks the stage of a new paging domain with a switch on the whole flag
 * word, so that every combination it does not list is refused:
 *
 *     switch (flags) {
 *     case 0:
 *             ... S1 if available, else S2
 *     case IOMMU_HWPT_ALLOC_NEST_PARENT:
 *             if (!(smmu->features & ARM_SMMU_FEAT_NESTING)) {
 *                     ret = -EOPNOTSUPP;
 *                     goto err_free;
 *             }
 *             smmu_domain->stage = ARM_SMMU_DOMAIN_S2;
 *             smmu_domain->nest_parent = true;
 *             break;
 *     case IOMMU_HWPT_ALLOC_DIRTY_TRACKING:
 *     case IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID:
 *     case IOMMU_HWPT_ALLOC_PASID:
 *             ... S1
 *     default:
 *             ret = -EOPNOTSUPP;
 *             goto err_free;
 *     }
 *
 * A PASID-capable domain must be stage 1: a PASID selects a context
 * descriptor, and a stage-2 (VMID-tagged) table cannot hang off one, so
 * NEST_PARENT | PASID falls to `default`. THE FAULT switches on the flags
 * with IOMMU_HWPT_ALLOC_PASID masked out, as if PASID were an orthogonal
 * "may also be attached by PASID" bit that every stage can honour:
 *
 *     switch (flags & ~IOMMU_HWPT_ALLOC_PASID) {
 *
 * 0, DIRTY_TRACKING and their PASID variants still land where they did;
 * only NEST_PARENT | PASID changes: it now makes a stage-2 nesting parent
 * (the finalise step reads nothing but DIRTY_TRACKING from the flags).
 * IOMMU_HWPT_ALLOC with that pair on an SMMUv3 device succeeds where the
 * kernel answers EOPNOTSUPP, and the HWPT is marked PASID-compatible
 * (hwpt->pasid_compat) although its domain can never be installed for a
 * PASID.
 *
 * Applied as (7.3; 6.12's arm_smmu_domain_alloc_user takes DIRTY_TRACKING
 * only): the machine's SMMUv3 driver allocates with PASID cleared from the
 * flags it switches on.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HWPT_ALLOC_PASID } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-alloc-switch-masks-pasid', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const drivers = new Set([...m.instances.values()].map((i) => i.driver).filter((d) => d.name === 'smmuv3'));
      for (const drv of drivers) {
        // THE FAULT: the stage switch sees the flags without IOMMU_HWPT_ALLOC_PASID.
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => alloc(dev, flags & ~IOMMU_HWPT_ALLOC_PASID, data));
      }
    },
  });
}
