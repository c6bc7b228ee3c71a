/**
 * amd-vasz-max-not-min (drivers/iommu/amd/iommu.c
 * amd_iommu_domain_alloc_paging_v1, the generic_pt AMD v1 domain).
 *
 * An AMD v1 paging domain tells generic_pt how far its table may grow; the
 * limit comes from the unit's host page-table levels (EFR HATS →
 * amd_iommu_hpt_level), and generic_pt turns it into the domain's aperture
 * (geometry.aperture_end = 2^vasz - 1) and the page sizes it offers:
 *     cfg.common.hw_max_vasz_lg2 =
 *             min(64, (amd_iommu_hpt_level - 1) * 9 + 21);
 *     ret = pt_iommu_amdv1_init(&domain->amdv1, &cfg, GFP_KERNEL);
 * (4 levels: 48 bits.) The fault is the min/max slip that circulated in the
 * conversion series:
 *     cfg.common.hw_max_vasz_lg2 =
 *             max(64, (amd_iommu_hpt_level - 1) * 9 + 21);
 * which is always 64: the domain claims the whole 64-bit IOVA space and a
 * dynamic top that grows to 6 levels, whatever the hardware walks.
 *
 * Consequence: iopt_table_add_domain() reserves nothing above the aperture,
 * so an IOAS with an AMD device attached offers IOVAs the unit cannot
 * translate: IOMMU_IOAS_IOVA_RANGES reports up to 2^64-1 (the unit's
 * capability says 2^48-1), IOMMU_IOAS_MAP with a fixed IOVA at or above 2^48
 * succeeds where the kernel answers that the range is reserved, and mapping
 * it grows the table beyond HATS (on the hardware the DTE then carries a
 * paging mode above HATS, an illegal DTE that stops every DMA of the
 * devices on the domain; the simulated unit walks it). The larger page sizes
 * (up to 2^51) also become part of the domain's pgsize_bitmap.
 *
 * Applied as: the 7.3 AMD driver allocates its paging domains with a 64-bit
 * VA limit instead of the unit's 48. (6.12's AMD v1 has a 64-bit aperture by
 * design and is left alone.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommuDriver, SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The device as domain_alloc sees it, with its unit's domain configuration replaced. */
function withDomainVasz(dev: SimDevice, vasz: number): SimDevice {
  const config = dev.iommu.config;
  const cfg = config.domainCfg;
  if (cfg.format !== 'amd-v1') return dev;
  const iommu = Object.create(dev.iommu, { config: { value: { ...config, domainCfg: { ...cfg, vasz } } } }) as SimDevice['iommu'];
  return Object.create(dev, { iommu: { value: iommu } }) as SimDevice;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-vasz-max-not-min', profile, {
    machine: (m) => {
      if (profile === '6.12') return;
      const drivers = new Set<IommuDriver>([...m.instances.values()].map((i) => i.driver).filter((d) => d.name === 'amd'));
      for (const drv of drivers) {
        // THE FAULT: hw_max_vasz_lg2 = max(64, (hpt_level - 1) * 9 + 21) == 64.
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => alloc(withDomainVasz(dev, 64), flags, data));
      }
    },
  });
}
