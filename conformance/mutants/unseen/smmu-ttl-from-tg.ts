/**
 * smmu-ttl-from-tg — drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c, the range
 * invalidation an SMMUv3 domain's iotlb_sync issues after every unmap (7.3
 * arm_smmu_cmdq_batch_add_range, 6.12 __arm_smmu_tlb_inv_range; both do the
 * same with IDR3.RIL).
 *
 * A leaf TLBI carries three size fields: TG, the translation granule that
 * NUM/SCALE count in; NUM/SCALE, how many of them; and TTL, the level of the
 * leaf entries being removed. The granule the iommu core gathered for the
 * sync (iommu_iotlb_gather_add_page: one leaf size per sync) gives the level:
 *
 *     tg = __ffs(smmu_domain->domain.pgsize_bitmap);     // 6.12 (7.3: inv->pgsize)
 *     num_pages = size >> tg;
 *     cmd->tlbi.tg = (tg - 10) / 2;
 *     if (cmd->tlbi.leaf)
 *             cmd->tlbi.ttl = 4 - ((ilog2(granule) - 3) / (tg - 3));
 *
 * THE FAULT: the level is computed from the translation granule too,
 *
 *             cmd->tlbi.ttl = 4 - ((tg - 3) / (tg - 3));
 *
 * (the two log2 sizes of the function swapped, as the smmu-range-inv-counts-
 * leaves fault swaps them the other way for NUM): every leaf TLBI says
 * TTL = 3, "the entries are 4 KiB pages at level 3", whatever was unmapped.
 *
 * TTL is a hint the SMMU may use to look only at TLB entries of that level:
 * the architecture (Arm IHI 0070, the TTL field of the range TLBI commands)
 * only requires entries from a walk that ended at the indicated level to be
 * invalidated, and an entry of another level may survive the command. With
 * the right hint (TTL = 2 for a sync of 2 MiB blocks) the block entries go;
 * with TTL = 3 they may stay, and on an SMMU that uses the hint they do.
 *
 * Why it needs several commands: nothing is wrong when the domain maps and a
 * device reads through it. It takes a 2 MiB block mapping (a 2 MiB-aligned
 * IOVA range of at least 2 MiB backed by a huge-page-aligned buffer), DMA
 * through it so that the SMMU caches the block, an unmap of that range (or
 * the teardown of the HWPT / IOAS that held it, which unmaps it the same
 * way), and DMA afterwards: the device still translates the whole 2 MiB
 * through the stale block entry — pages iommufd has unpinned and the process
 * may have freed, or that another buffer (another context's) now occupies,
 * and an IOVA the IOAS maps again to other memory still reaches the old
 * pages. 4 KiB mappings are flushed correctly (TTL = 3 is their level), so
 * small-page workloads never show it; `translate` (the table) is right.
 *
 * Applied as: each SMMUv3 unit's range flush computes TTL from the
 * translation granule; the unit honours a level-3 hint by invalidating only
 * the 4 KiB-leaf entries in the range (a hint naming another level keeps the
 * reference's behaviour: the reference gathers the largest leaf size of an
 * unmap rather than syncing per size, so only a level-3 hint is known to be
 * a statement about every entry in the range).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** TTL of a level-3 (4 KiB granule, last level) leaf TLBI. */
const TTL_LEVEL3 = 3;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-ttl-from-tg', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'smmuv3') return;
        // THE FAULT: ttl from ilog2(tg), not ilog2(granule): the flush is built as for a 4 KiB gather.
        patchOwn(hw, 'smmuFlushRange', (flush) => (d: HwDomain, iova: number, size: number, leaf: boolean, _pgsizeLg2: number) => {
          const tg = d.pt !== null ? d.pt.g.granLg2 : 12;
          flush(d, iova, size, leaf, tg);
        });
        // The SMMU honours TTL = 3: TLB entries of larger leaves (blocks) in the range are not invalidated.
        patchOwn(hw, 'smmuTlbiVa', (tlbi) => (stage: 1 | 2, tag: number, addr: number, leaf: boolean, num: number, scale: number, tg: number, ttl: number) => {
          const tlb = hw.iotlb;
          if (!leaf || ttl !== TTL_LEVEL3 || tlb === null) {
            tlbi(stage, tag, addr, leaf, num, scale, tg, ttl);
            return;
          }
          const last = num >= 0 ? addr + (num + 1) * 2 ** scale * 2 ** (10 + 2 * tg) - 1 : addr;
          const kept: { key: number; va: number; lg2: number; pa: number; perm: number; dirty: boolean }[] = [];
          tlb.forEach((i) => {
            if (tlb.tag[i] !== tag) return;
            const lg2 = tlb.leafLg2[i] as number;
            const va = tlb.leafVa[i] as number;
            if (lg2 <= tlb.keyShift || va > last || va + 2 ** lg2 - 1 < addr) return;
            kept.push({ key: tlb.key[i] as number, va, lg2, pa: tlb.leafPa[i] as number, perm: tlb.perm[i] as number, dirty: tlb.dirty[i] === 1 });
          });
          tlbi(stage, tag, addr, leaf, num, scale, tg, ttl);
          for (const e of kept) tlb.insert(tag, e.key * 2 ** tlb.keyShift, e.va, e.lg2, e.pa, e.perm, e.dirty);
        });
      }),
  });
}
