/**
 * mock-huge-aperture-overridden — drivers/iommu/iommufd/selftest.c
 * mock_domain_alloc_pgtable (7.3 only: 6.12 has no MOCK_IOMMUPT_HUGE).
 *
 * Correct kernel code (7.3):
 *
 *     /*
 *      * Override the real aperture to the MOCK aperture for test purposes.
 *      *\/
 *     if (user_cfg->pagetable_type == MOCK_IOMMUPT_DEFAULT) {
 *             ...
 *             mock->domain.geometry.aperture_start = MOCK_APERTURE_START;
 *             mock->domain.geometry.aperture_end = MOCK_APERTURE_LAST;
 *     }
 *
 * THE FAULT: the test is lost (the override applied to every pagetable
 * type), so a MOCK_IOMMUPT_HUGE domain, which keeps the real AMDv1-mock
 * aperture [0, 2^38 - 1] in the kernel, is narrowed to
 * [MOCK_APERTURE_START, MOCK_APERTURE_LAST].
 *
 * What a user sees: IOMMU_HWPT_ALLOC with IOMMU_HWPT_DATA_SELFTEST
 * (pagetable_type = MOCK_IOMMUPT_HUGE) on an IOAS holding a mapping below
 * 16 MiB fails (EADDRINUSE) instead of succeeding; on an empty IOAS it
 * succeeds but later maps below 16 MiB or above 2 GiB are refused, and
 * automatic IOVAs are confined to the mock window.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { MOCK_APERTURE_LAST, MOCK_APERTURE_START } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-huge-aperture-overridden', profile, {
    domain: (d) => {
      if (profile !== '7.3') return;
      const hw = d.hw;
      const cfg = d.config;
      if (!hw || !cfg || cfg.format !== 'mock-amdv1' || cfg.mockVariant !== 'huge') return;
      // THE FAULT: the MOCK aperture override, applied to the huge page table too.
      hw.apertureStart = Number(MOCK_APERTURE_START);
      hw.apertureLast = Number(MOCK_APERTURE_LAST);
      hw.apertureLastBig = BigInt(MOCK_APERTURE_LAST);
    },
  });
}
