/**
 * smmu-aperture-end-past-ias (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_domain_finalise(); every SMMUv3 paging domain, stage 1 and the
 * stage-2 nesting parent; 6.12 and 7.3).
 *
 * After io-pgtable is set up for the domain's input size the driver
 * publishes the domain's geometry:
 *
 *     smmu_domain->domain.pgsize_bitmap = pgtbl_cfg.pgsize_bitmap;
 *     smmu_domain->domain.geometry.aperture_end = (1UL << pgtbl_cfg.ias) - 1;
 *     smmu_domain->domain.geometry.force_aperture = true;
 *
 * THE FAULT: `aperture_end = 1UL << pgtbl_cfg.ias;` — the inclusive end is
 * one past the last IOVA the table can translate.
 *
 * What a user sees: once an SMMUv3 domain is attached to an IOAS,
 * iopt_table_add_domain() reserves only [2^ias + 1, ULONG_MAX], so
 * IOMMU_IOAS_IOVA_RANGES reports an allowed range ending at 2^48 (not
 * 2^48 - 1), and IOMMU_IOAS_ALLOW_IOVAS / a later domain's
 * aperture check treat IOVA 2^48 as usable though no SMMU page table can
 * hold it (arm_lpae_map_pages refuses it with -ERANGE).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-aperture-end-past-ias', profile, {
    domain: (d) => {
      if (d.owner.name !== 'smmuv3' || !d.hw) return;
      // THE FAULT: geometry.aperture_end = 1UL << ias (the reference: (1UL << ias) - 1).
      patchOwn(d, 'apertureEnd', (end) => end + 1n);
    },
  });
}
