/**
 * smmu-nest-parent-stage1 — drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_domain_alloc_paging_flags() (7.3 only: 6.12's
 * arm_smmu_domain_alloc_user takes DIRTY_TRACKING alone and refuses
 * IOMMU_HWPT_ALLOC_NEST_PARENT).
 *
 * The kernel picks the translation stage from the exact flags:
 *
 *     switch (flags) {
 *     case 0:
 *             // Prefer S1 if available
 *             if (smmu->features & ARM_SMMU_FEAT_TRANS_S1)
 *                     smmu_domain->stage = ARM_SMMU_DOMAIN_S1;
 *             else
 *                     smmu_domain->stage = ARM_SMMU_DOMAIN_S2;
 *             break;
 *     case IOMMU_HWPT_ALLOC_NEST_PARENT:
 *             if (!(smmu->features & ARM_SMMU_FEAT_NESTING)) {
 *                     ret = -EOPNOTSUPP;
 *                     goto err_free;
 *             }
 *             smmu_domain->stage = ARM_SMMU_DOMAIN_S2;
 *             smmu_domain->nest_parent = true;
 *             break;
 *     case IOMMU_HWPT_ALLOC_DIRTY_TRACKING:
 *     ...
 *             smmu_domain->stage = ARM_SMMU_DOMAIN_S1;
 *
 * THE FAULT: a copy-paste slip in the NEST_PARENT arm,
 *
 *             smmu_domain->stage = ARM_SMMU_DOMAIN_S1;
 *             smmu_domain->nest_parent = true;
 *
 * (the same stage line as the cases around it). The feature check stays, the
 * allocation succeeds, nest_parent is set — but arm_smmu_domain_finalise
 * builds an ARM_64_LPAE_S1 io-pgtable (stage-1 AP bits, an ASID) instead of
 * the ARM_64_LPAE_S2 table (S2AP, a VMID) a nesting parent must be.
 *
 * What user space sees before any vIOMMU exists: the stage-1 descriptor
 * cannot express "write, no read" (AP[2:1] only says read-only or
 * read/write), while S2AP can. A write-only area of the IOAS
 * (IOMMU_IOAS_MAP_WRITEABLE without IOMMU_IOAS_MAP_READABLE) mapped into the
 * parent becomes readable by the device: a DMA read of it succeeds and
 * returns the user's bytes where the kernel's stage-2 translation faults it
 * (permission), and `translate` reports read: true.
 *
 * Applied as: on 7.3 the smmuv3 driver answers IOMMU_HWPT_ALLOC_NEST_PARENT
 * (on a unit with nesting) with the stage-1 domain it makes for flags 0,
 * marked as a nesting parent. Every other flag combination, and 6.12, as
 * the reference.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-nest-parent-stage1', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'smmuv3') continue;
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
          if (flags !== IOMMU_HWPT_ALLOC_NEST_PARENT || !dev.iommu.config.nesting) return alloc(dev, flags, data);
          // THE FAULT: the NEST_PARENT arm sets stage S1 (the flags-0 domain), then nest_parent.
          const r = alloc(dev, 0, data);
          if (r.errno === 0 && 'domain' in r) patchOwn(r.domain, 'nestParent', () => true);
          return r;
        });
      }
    },
  });
}
