/**
 * Round 6b fault (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_iotlb_sync / arm_smmu_tlb_inv_range_domain).
 *
 * When an unmap frees page-table pages (a table whose whole span was
 * unmapped), the invalidation must be a non-leaf one: CMDQ_TLBI_1_LEAF clear,
 * so the SMMU also drops the walk-cache (intermediate table) entries that
 * point at the freed tables, before those pages go back to the allocator.
 * The fault passes leaf=true unconditionally (the gather's freelist is not
 * consulted, as if every sync were a tlb_add_page): the leaf TLB entries go,
 * but a cached table descriptor still names the freed page. Once that page is
 * reused (another table, another domain's table, or user data), a DMA through
 * the stale walk-cache entry walks whatever is there now: the device reaches
 * memory no mapping of its domain gives it.
 *
 * Applied as: each SMMUv3 unit's range flush is called with leaf=true.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-sync-leaf-only', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'smmuv3') return;
        // THE FAULT: arm_smmu_tlb_inv_range_domain(gather->start, size, gather->pgsize, true, smmu_domain)
        patchOwn(hw, 'smmuFlushRange', (orig) => (d: HwDomain, iova: number, size: number, _leaf: boolean, pgsizeLg2: number) => orig(d, iova, size, true, pgsizeLg2));
      }),
  });
}
