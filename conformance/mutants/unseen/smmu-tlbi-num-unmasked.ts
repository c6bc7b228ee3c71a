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
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { K_ARM_S2 } from '../../../impl/pagetable/format.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

function ctz(x: number): number {
  let n = 0;
  while (x % 2 === 0 && n < 64) {
    x /= 2;
    n++;
  }
  return n;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-tlbi-num-unmasked', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'smmuv3') return;
        patchOwn(hw, 'smmuFlushRange', (orig) => (d: HwDomain, iova: number, size: number, leaf: boolean, pgsizeLg2: number) => {
          if (!hw.rangeInv || d.pt === null) return orig(d, iova, size, leaf, pgsizeLg2);
          const pt = d.pt;
          const stage = pt.g.kind === K_ARM_S2 ? 2 : 1;
          const tg = pt.g.granLg2;
          const granuleLg2 = pgsizeLg2 > 0 ? pgsizeLg2 : tg;
          const end = iova + size;
          let numPages = Math.floor(size / 2 ** tg);
          const ttl = leaf ? 4 - Math.floor((granuleLg2 - 3) / (tg - 3)) : 0;
          if (!leaf && numPages % 32 === 1 && numPages === 1) numPages++;
          let a = iova;
          while (a < end && numPages > 0) {
            const scale = Math.min(31, ctz(numPages));
            const num = Math.floor(numPages / 2 ** scale); // THE FAULT: `& CMDQ_TLBI_RANGE_NUM_MAX` dropped
            const inv = num * 2 ** (scale + tg);
            // FIELD_PREP(CMDQ_TLBI_1_NUM, num - 1): the command has five bits for it.
            hw.smmuTlbiVa(stage, d.tag, a, leaf, (num - 1) & 31, scale, (tg - 10) / 2, ttl);
            numPages -= num * 2 ** scale;
            a += inv;
          }
        });
      }),
  });
}
