/**
 * mock-aperture-end-not-overridden — drivers/iommu/iommufd/selftest.c
 * mock_domain_alloc_pgtable (7.3 only: 6.12's mock domain is the xarray
 * table with its own fixed geometry).
 *
 * Correct kernel code (7.3):
 *
 *     if (user_cfg->pagetable_type == MOCK_IOMMUPT_DEFAULT) {
 *             WARN_ON(mock->domain.geometry.aperture_start != 0);
 *             WARN_ON(mock->domain.geometry.aperture_end < MOCK_APERTURE_LAST);
 *
 *             mock->domain.geometry.aperture_start = MOCK_APERTURE_START;
 *             mock->domain.geometry.aperture_end = MOCK_APERTURE_LAST;
 *     }
 *
 * THE FAULT: the aperture_end line is lost, so the default mock paging
 * domain keeps the AMDv1-mock table's real end (2^38 - 1 with 2 KiB pages,
 * starting level 2) while its start is moved to MOCK_APERTURE_START.
 *
 * What a user sees: with a mock domain attached, iommufd no longer reserves
 * IOVA above MOCK_APERTURE_LAST: IOMMU_IOAS_MAP at a fixed IOVA of 2 GiB or
 * more succeeds (EADDRINUSE / the reserved range in the kernel), and
 * IOMMU_IOAS_IOVA_RANGES reports one range up to 2^38 - 1 instead of
 * [16 MiB, 2 GiB - 1]; a device then DMAs through IOVAs the domain's owner
 * said it does not translate.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-aperture-end-not-overridden', profile, {
    domain: (d) => {
      if (profile !== '7.3') return;
      const hw = d.hw;
      const cfg = d.config;
      if (!hw || !hw.pt || !cfg || cfg.format !== 'mock-amdv1' || cfg.mockVariant === 'huge') return;
      // THE FAULT: aperture_end keeps the table's own (pt_iommu_init_domain) value.
      const last = hw.pt.g.apertureLast;
      hw.apertureLastBig = last;
      hw.apertureLast = Number(last < 2n ** 53n ? last : 2n ** 53n - 1n);
    },
  });
}
