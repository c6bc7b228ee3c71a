/**
 * amd-ht-range-ignore-inverted (drivers/iommu/amd/iommu.c,
 * amd_iommu_get_resv_regions; 7.3 only).
 *
 * The kernel's code, after the unity-map (IVMD) regions and the MSI window:
 *
 *     region = iommu_alloc_resv_region(MSI_RANGE_START,
 *                                      MSI_RANGE_END - MSI_RANGE_START + 1,
 *                                      0, IOMMU_RESV_MSI, GFP_KERNEL);
 *     if (!region)
 *             return;
 *     list_add_tail(&region->list, head);
 *
 *     if (amd_iommu_ht_range_ignore())
 *             return;
 *
 *     region = iommu_alloc_resv_region(HT_RANGE_START,
 *                                      HT_RANGE_END - HT_RANGE_START + 1,
 *                                      0, IOMMU_RESV_RESERVED, GFP_KERNEL);
 *
 * with amd_iommu_ht_range_ignore() = check_feature2(FEATURE_HT_RANGE_IGNORE)
 * (EFR2 bit 11: the IOMMU does not decode the HyperTransport window, so it
 * need not be reserved). The fault tests the flag the wrong way round
 * (`if (!amd_iommu_ht_range_ignore()) return;`, an easy slip when the
 * early return was added in front of an unconditional reservation): on a
 * unit whose EFR2 lacks the bit — amd0's EFR2 is 0 — the HyperTransport
 * window 0xfd_0000_0000..0xff_ffff_ffff is no longer a reserved region of
 * its devices.
 *
 * Observable: an IOAS an amd0 device is attached to reports the HT window as
 * allowed in IOMMU_IOAS_IOVA_RANGES, accepts an IOMMU_IOAS_MAP there (the
 * kernel: EADDRINUSE / never allocated), and the device's DMA to those IOVAs
 * reaches user pages where the platform's HT decode owns the addresses.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { ResvRegion } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const HT_RANGE_START = 0xfd00000000n;
const FEATURE_HT_RANGE_IGNORE = 1n << 11n;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-ht-range-ignore-inverted', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      patchOwn(m, 'deviceCreate', (create) => (spec) => {
        const r = create(spec);
        if (!r.ok) return r;
        const dev = m.device(r.device);
        if (!dev || dev.iommu.driver.name !== 'amd') return r;
        patchOwn(dev, 'resvRegions', () => (): ResvRegion[] => {
          const efr2 = dev.iommu.config.regs[1] ?? 0n;
          const htIgnore = (efr2 & FEATURE_HT_RANGE_IGNORE) !== 0n;
          const unit = dev.iommu.config.resvRegions.filter((reg) => {
            const isHt = reg.type === 'reserved' && reg.start === HT_RANGE_START;
            // THE FAULT: `if (!amd_iommu_ht_range_ignore()) return;` — the HT window is
            // dropped exactly when the unit decodes it.
            return !isHt || htIgnore;
          });
          return [...unit, ...dev.ownResv];
        });
        return r;
      });
    },
  });
}
