/**
 * vtd-nest-parent-writeable-after-init (drivers/iommu/intel/iommu.c,
 * intel_iommu_domain_alloc_second_stage; 7.3 only).
 *
 * The kernel builds the second-stage table's configuration, features
 * included, before handing it to generic_pt:
 *
 *     cfg.common.hw_max_vasz_lg2 = compute_vasz_lg2_ss(iommu, &cfg.top_level);
 *     cfg.common.hw_max_oasz_lg2 = 52;
 *     cfg.common.features = BIT(PT_FEAT_FLUSH_RANGE);
 *
 *     // Read-only mapping is disallowed on the domain which serves as the
 *     // parent in a nested configuration, due to HW errata
 *     // (ERRATA_772415_SPR17)
 *     if (flags & IOMMU_HWPT_ALLOC_NEST_PARENT)
 *             cfg.common.features |= BIT(PT_FEAT_VTDSS_FORCE_WRITEABLE);
 *     ...
 *     ret = pt_iommu_vtdss_init(&dmar_domain->sspt, &cfg, GFP_KERNEL);
 *
 * and pt_iommu_init copies them once (`common->features =
 * cfg->common.features;`). The fault moves the errata block below
 * pt_iommu_vtdss_init, next to the other nest-parent bookkeeping
 * (dmar_domain->nested_parent = ...): the bit lands in the local cfg after
 * the table has taken its copy, so the NEST_PARENT domain's table never has
 * PT_FEAT_VTDSS_FORCE_WRITEABLE and vtdss_pt_iommu_set_prot no longer
 * refuses a prot without IOMMU_WRITE.
 *
 * Observable: with a VT-d NEST_PARENT HWPT attached, IOMMU_IOAS_MAP of a
 * READABLE-only range succeeds (the kernel: EINVAL from the domain map, the
 * IOAS unchanged) and the device can read through a read-only second-stage
 * entry the errata forbids; attaching the HWPT to an IOAS that already has
 * read-only areas succeeds instead of failing the fill.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT } from '../../../spec/uapi/constants.ts';
import { hwCreateDomain } from '../../../impl/platform/hw.ts';
import { IommuDomain } from '../../../impl/platform/iommu.ts';
import type { FormatConfig } from '../../../impl/pagetable/format.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-nest-parent-writeable-after-init', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'intel') continue;
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
          const r = alloc(dev, flags, data);
          if (r.errno !== 0 || !('domain' in r) || !(flags & IOMMU_HWPT_ALLOC_NEST_PARENT)) return r;
          const made = r.domain;
          const cfg = made.config as FormatConfig | undefined;
          if (!cfg || cfg.format !== 'vtd-ss' || !cfg.forceWriteable) return r;
          // THE FAULT: the table was initialised from a cfg whose features did not yet hold
          // PT_FEAT_VTDSS_FORCE_WRITEABLE (it was ORed in after pt_iommu_vtdss_init).
          const { forceWriteable: _late, ...tableCfg } = cfg;
          const hw = hwCreateDomain(drv.hw, tableCfg);
          if (typeof hw === 'number') return r;
          hw.allocFail = () => m.env.shouldFail();
          made.free();
          return { errno: 0, domain: new IommuDomain('paging', drv, hw, cfg, made.dirtyOps, made.nestParent, made.format) };
        });
      }
    },
  });
}
