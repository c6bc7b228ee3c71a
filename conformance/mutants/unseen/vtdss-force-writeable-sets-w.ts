/**
 * vtdss-force-writeable-sets-w — drivers/iommu/generic_pt/fmt/vtdss.h
 * vtdss_pt_iommu_set_prot() (7.3; 6.12: drivers/iommu/intel/iommu.c
 * __domain_mapping(), the same test on dmar_domain->nested_parent).
 *
 * A VT-d paging domain allocated as a nesting parent
 * (IOMMU_HWPT_ALLOC_NEST_PARENT: the stage 2 a vIOMMU's stage-1 tables are
 * walked through) must not hold read-only leaves: on Sapphire Rapids a
 * read-only second-stage entry under a nested translation is mishandled
 * (ERRATA_772415_SPR17, reported to user space in IOMMU_GET_HW_INFO's
 * iommu_hw_info_vtd.flags). intel_iommu_domain_alloc_second_stage() sets
 * PT_FEAT_VTDSS_FORCE_WRITEABLE on such a domain and the format refuses any
 * map without IOMMU_WRITE:
 *
 *     if (pt_feature(common, PT_FEAT_VTDSS_FORCE_WRITEABLE) &&
 *         !(iommu_prot & IOMMU_WRITE)) {
 *             pr_err_ratelimited(
 *                     "Read-only mapping is disallowed on the domain which serves as the parent in a nested configuration, due to HW errata (ERRATA_772415_SPR17)\n");
 *             return -EINVAL;
 *     }
 *
 * (6.12 __domain_mapping: `if (!(prot & DMA_PTE_WRITE) &&
 * domain->nested_parent) { pr_err_ratelimited(...); return -EINVAL; }`).
 *
 * THE FAULT: the feature is implemented as its name reads — the write bit
 * is forced on instead of the map being refused ("the errata needs W set in
 * the parent, so set it"):
 *
 *     if (pt_feature(common, PT_FEAT_VTDSS_FORCE_WRITEABLE))
 *             pte |= VTDSS_FMT_W;
 *
 * (6.12: `if (domain->nested_parent) prot |= DMA_PTE_WRITE;`).
 *
 * Consequence, through two objects: the IOAS is shared by every HWPT built
 * on it, and a read-only area — IOMMU_IOAS_MAP without
 * IOMMU_IOAS_MAP_WRITEABLE, a read-only IOMMU_IOAS_COPY, VFIO_IOMMU_MAP_DMA
 * with only VFIO_DMA_MAP_FLAG_READ; pages pinned without FOLL_WRITE, so
 * possibly a read-only mapping of the process, the page cache of a file, the
 * shared zero page — is mapped read-only in every other domain of the IOAS
 * but read/write in the nesting-parent domain. Allocating the parent HWPT
 * over an IOAS that has read-only areas (or mapping one into an IOAS that
 * has a parent HWPT) succeeds where the kernel answers EINVAL, and a device
 * attached to the parent (directly, or later through a nested HWPT) writes
 * into memory the user only let it read: IOMMU_IOAS_MAP's permission is not
 * enforced for it, while `translate` on another device of the same IOAS
 * still shows the page read-only.
 *
 * Applied as: the intel driver's paging domains allocated with
 * IOMMU_HWPT_ALLOC_NEST_PARENT compute their leaf attributes as if
 * IOMMU_WRITE were always requested.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_READ, IOMMU_WRITE } from '../../../impl/platform/hw.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IoPageTable's pt_iommu_set_prot (protected in the reference), used by every map of the table. */
interface SetProt {
  setProt(prot: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtdss-force-writeable-sets-w', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || d.owner.name !== 'intel' || !d.nestParent) return;
      // THE FAULT: FORCE_WRITEABLE sets W instead of refusing a map without IOMMU_WRITE.
      patchOwn(pt as unknown as SetProt, 'setProt', (setProt) => (prot: number) => setProt(prot & (IOMMU_READ | IOMMU_WRITE) ? prot | IOMMU_WRITE : prot));
    },
  });
}
