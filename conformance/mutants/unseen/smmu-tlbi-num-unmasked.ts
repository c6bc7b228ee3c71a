/**
 * Round 5b fault (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * __arm_smmu_tlb_inv_range, range invalidation with IDR3.RIL).
 *
 * A range TLBI covers (NUM+1) * 2^SCALE granules, NUM a 5-bit field. The
 * loop takes scale = __ffs(num_pages) and num = (num_pages >> scale) &
 * CMDQ_TLBI_RANGE_NUM_MAX, so an odd part of 32 or more is split over
 * several commands. The fault drops the mask: num keeps the whole odd part,
 * FIELD_PREP(CMDQ_TLBI_1_NUM, num - 1) truncates it to its low five bits,
 * and the loop still subtracts num << scale. An unmap of 33 pages (or any
 * count whose odd part is ≥ 33) becomes one command with NUM = 32 & 31 = 0,
 * i.e. a single granule, and the other 32 pages keep their IOTLB entries
 * after IOMMU_IOAS_UNMAP returned: the device still reaches the unmapped,
 * unpinned pages.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { smmuRangeFlush } from './_smmu_range.ts';

// THE FAULT: `& CMDQ_TLBI_RANGE_NUM_MAX` dropped from num.
const machine = smmuRangeFlush({ num: (numPages, scale) => Math.floor(numPages / 2 ** scale) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-tlbi-num-unmasked', profile, { machine });
}
