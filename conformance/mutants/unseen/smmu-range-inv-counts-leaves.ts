/**
 * H8.7 — smmu-range-inv-counts-leaves (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * __arm_smmu_tlb_inv_range, ARM_SMMU_FEAT_RANGE_INV).
 *
 * A range TLBI counts translation granules: NUM/SCALE encode a number of
 * TG-sized pages (4 KiB here) from the address, and TTL only hints at the
 * leaf level:
 *     tg = __ffs(smmu_domain->domain.pgsize_bitmap);
 *     num_pages = size >> tg;
 *     cmd->tlbi.tg = (tg - 10) / 2;
 *     if (cmd->tlbi.leaf)
 *             cmd->tlbi.ttl = 4 - ((ilog2(granule) - 3) / (tg - 3));
 * The fault counts the pages in units of the gather's leaf size instead
 * (num_pages = size >> ilog2(granule), the granule the TTL computation just
 * used) while TG, and so the unit of NUM/SCALE, stays the translation
 * granule. For 4 KiB leaves nothing changes; once the gather holds a block
 * (2 MiB) the command covers size / 2 MiB granules of 4 KiB — one 4 KiB
 * page per 2 MiB of range.
 *
 * Consequence: an unmap of an area mapped with 2 MiB blocks invalidates only
 * the TLB entries overlapping its first few KiB: the first block goes (an
 * entry for a block overlaps any address inside it), every later block and
 * any 4 KiB tail stay cached, so after IOMMU_IOAS_UNMAP of a huge-page
 * backed area the device keeps reading and writing the unmapped, unpinned
 * pages beyond the first 2 MiB.
 *
 * Applied as: each SMMUv3 unit's range flush computes the page count from
 * the gather's page size.
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
  return mutantImplementation('smmu-range-inv-counts-leaves', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'smmuv3') return;
        patchOwn(hw, 'smmuFlushRange', (orig) => (d: HwDomain, iova: number, size: number, leaf: boolean, pgsizeLg2: number) => {
          const pt = d.pt;
          if (!hw.rangeInv || pt === null) return orig(d, iova, size, leaf, pgsizeLg2);
          const stage = pt.g.kind === K_ARM_S2 ? 2 : 1;
          const tg = pt.g.granLg2;
          const granuleLg2 = pgsizeLg2 > 0 ? pgsizeLg2 : tg;
          const end = iova + size;
          // THE FAULT: size >> ilog2(granule), not size >> tg (NUM/SCALE still count TG pages).
          let numPages = Math.max(1, Math.floor(size / 2 ** granuleLg2));
          const ttl = leaf ? 4 - Math.floor((granuleLg2 - 3) / (tg - 3)) : 0;
          if (!leaf && numPages === 1) numPages++;
          let a = iova;
          while (a < end && numPages > 0) {
            const scale = Math.min(31, ctz(numPages));
            const num = Math.floor(numPages / 2 ** scale) % 32;
            hw.smmuTlbiVa(stage, d.tag, a, leaf, num - 1, scale, (tg - 10) / 2, ttl);
            numPages -= num * 2 ** scale;
            a += num * 2 ** (scale + tg);
          }
        });
      }),
  });
}
