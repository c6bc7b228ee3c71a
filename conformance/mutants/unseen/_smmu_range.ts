/**
 * Shared by the faults that change one step of SMMUv3's range invalidation: a
 * copy of __arm_smmu_tlb_inv_range (arm-smmu-v3.c), as the simulated unit's
 * smmuFlushRange issues it, whose page count and NUM field are parameters.
 * With the defaults it issues the commands the reference does.
 */
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import { K_ARM_S2 } from '../../../impl/pagetable/format.ts';
import { hwUnits, patchOwn } from '../harness.ts';

export interface SmmuRangeSteps {
  /** num_pages: the range in TG pages (size >> tg). */
  readonly pages?: (size: number, tg: number, granuleLg2: number) => number;
  /** num of one command: (num_pages >> scale) & CMDQ_TLBI_RANGE_NUM_MAX. */
  readonly num?: (numPages: number, scale: number) => number;
}

function ctz(x: number): number {
  let n = 0;
  while (x % 2 === 0 && n < 64) {
    x /= 2;
    n++;
  }
  return n;
}

/** The machine hook: every SMMUv3 unit with range invalidation flushes ranges with the given steps. */
export function smmuRangeFlush({ pages = (size, tg) => Math.floor(size / 2 ** tg), num = (numPages, scale) => Math.floor(numPages / 2 ** scale) % 32 }: SmmuRangeSteps): (m: Machine) => void {
  return (m) =>
    hwUnits(m).forEach((hw) => {
      if (hw.vendor !== 'smmuv3') return;
      patchOwn(hw, 'smmuFlushRange', (orig) => (d: HwDomain, iova: number, size: number, leaf: boolean, pgsizeLg2: number) => {
        const pt = d.pt;
        if (!hw.rangeInv || pt === null) return orig(d, iova, size, leaf, pgsizeLg2);
        const stage = pt.g.kind === K_ARM_S2 ? 2 : 1;
        const tg = pt.g.granLg2;
        const granuleLg2 = pgsizeLg2 > 0 ? pgsizeLg2 : tg;
        const end = iova + size;
        let numPages = pages(size, tg, granuleLg2);
        const ttl = leaf ? 4 - Math.floor((granuleLg2 - 3) / (tg - 3)) : 0;
        if (!leaf && numPages === 1) numPages++;
        let a = iova;
        while (a < end && numPages > 0) {
          const scale = Math.min(31, ctz(numPages));
          const n = num(numPages, scale);
          // FIELD_PREP(CMDQ_TLBI_1_NUM, num - 1): the command has five bits for it.
          hw.smmuTlbiVa(stage, d.tag, a, leaf, (n - 1) & 31, scale, (tg - 10) / 2, ttl);
          numPages -= n * 2 ** scale;
          a += n * 2 ** (scale + tg);
        }
      });
    });
}
