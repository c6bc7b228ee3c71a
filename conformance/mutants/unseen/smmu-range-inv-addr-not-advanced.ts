/**
 * R42-B3 — smmu-range-inv-addr-not-advanced (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * __arm_smmu_tlb_inv_range(), both profiles: the range-invalidation (RIL) loop
 * every SMMUv3 iotlb_sync / tlb_flush_walk goes through).
 *
 *     while (iova < end) {
 *             if (smmu->features & ARM_SMMU_FEAT_RANGE_INV) {
 *                     unsigned long scale, num;
 *
 *                     scale = __ffs(num_pages);
 *                     cmd->tlbi.scale = scale;
 *                     num = (num_pages >> scale) & CMDQ_TLBI_RANGE_NUM_MAX;
 *                     cmd->tlbi.num = num - 1;
 *                     inv_range = num << (scale + tg);
 *                     num_pages -= num << scale;
 *             }
 *             cmd->tlbi.addr = iova;
 *             arm_smmu_cmdq_batch_add(smmu, &cmds, cmd);
 *             iova += inv_range;
 *     }
 *
 * THE FAULT keeps cmd->tlbi.addr at the start of the range: the address line
 * is hoisted above the loop (`cmd->tlbi.addr = iova;` once, before `while`),
 * so every command after the first invalidates from the original start.
 *
 * A range whose page count is not one (num << scale) chunk (33 pages, 65,
 * 97, ...) is flushed by several commands; all but the first cover the head
 * of the range again and the tail stays in the IOTLB. After IOMMU_IOAS_UNMAP of
 * such a range on an SMMUv3 device, a translation cached for its last page
 * keeps DMA reaching the unpinned page.
 *
 * Applied as: the smmuv3 hardware model's smmuFlushRange, with range
 * invalidation, issues the reference's commands with the address not advanced.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { K_ARM_S2 } from '../../../impl/pagetable/fmt/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

function ctz(x: number): number {
  let n = 0;
  while (x > 0 && x % 2 === 0) {
    x /= 2;
    n++;
  }
  return n;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-range-inv-addr-not-advanced', profile, {
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'smmuv3') continue;
        const hw = drv.hw;
        patchOwn(hw, 'smmuFlushRange', (orig) => (d: HwDomain, iova: number, size: number, leaf: boolean, pgsizeLg2: number): void => {
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
          const addr = iova; // THE FAULT: cmd->tlbi.addr set once, before the loop
          while (a < end && numPages > 0) {
            const scale = Math.min(31, ctz(numPages));
            const num = Math.floor(numPages / 2 ** scale) % 32;
            const inv = num * 2 ** (scale + tg);
            hw.smmuTlbiVa(stage, d.tag, addr, leaf, num - 1, scale, (tg - 10) / 2, ttl);
            numPages -= num * 2 ** scale;
            a += inv;
          }
        });
      }
    },
  });
}
