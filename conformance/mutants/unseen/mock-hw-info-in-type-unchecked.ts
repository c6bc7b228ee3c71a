/**
 * mock-hw-info-in-type-unchecked (selftest mock driver, hw_info input type) — 7.3 only:
 * mock_domain_hw_info (drivers/iommu/iommufd/selftest.c). The kernel:
 *
 *     if (*type != IOMMU_HW_INFO_TYPE_DEFAULT &&
 *         *type != IOMMU_HW_INFO_TYPE_SELFTEST)
 *         return ERR_PTR(-EOPNOTSUPP);
 *
 * THE FAULT: the check is missing (the mock driver kept its 6.12 body when
 * IOMMU_HW_INFO_FLAG_INPUT_TYPE made *type an input), so any requested
 * in_data_type is answered with the selftest data and *type rewritten to
 * IOMMU_HW_INFO_TYPE_SELFTEST.
 *
 * What a user sees: IOMMU_GET_HW_INFO with IOMMU_HW_INFO_FLAG_INPUT_TYPE
 * and a foreign in_data_type (e.g. IOMMU_HW_INFO_TYPE_INTEL_VTD) on a mock
 * device succeeds with out_data_type SELFTEST and selftest data, where the
 * kernel refuses with EOPNOTSUPP. 6.12 has no input type: nothing to change.
 *
 * Applied as: the mock driver's hwInfo, with the requested type replaced by
 * IOMMU_HW_INFO_TYPE_DEFAULT before the reference's body runs (its check then
 * always passes). Under 7.3 only.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HW_INFO_TYPE_DEFAULT } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-hw-info-in-type-unchecked', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      // THE FAULT: no check of *type; the body always answers as for DEFAULT / SELFTEST.
      patchDriverHwInfo(m, 'mock', (hwInfo) => (dev, _inType) => hwInfo(dev, IOMMU_HW_INFO_TYPE_DEFAULT));
    },
  });
}
