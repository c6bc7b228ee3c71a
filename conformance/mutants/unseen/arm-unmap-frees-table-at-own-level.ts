/**
 * arm-unmap-frees-table-at-own-level (drivers/iommu/io-pgtable-arm.c
 * __arm_lpae_unmap, the "non-leaf entry at the unmap level" branch; also
 * arm_lpae_init_pte's table-in-the-way path, which goes through it; both
 * profiles, the SMMUv3 unit's stage-1 tables).
 *
 * When an unmap at page size `size` finds a table where it expected a leaf
 * (the range was mapped with smaller pages, e.g. 4 KiB pages of a 2 MiB
 * aligned area whose physical pages are not 2 MiB aligned, and the iommu
 * core unmaps it as one 2 MiB page), the whole table goes:
 *
 *             if (!iopte_leaf(pte, lvl, iop->fmt)) {
 *                     __arm_lpae_clear_pte(&ptep[i], &iop->cfg, 1);
 *
 *                     // Also flush any partial walks
 *                     io_pgtable_tlb_flush_walk(iop, iova + i * size, size,
 *                                               ARM_LPAE_GRANULE(data));
 *                     __arm_lpae_free_pgtable(data, lvl + 1, iopte_deref(pte, data));
 *             }
 *
 * The fault passes `lvl` instead of `lvl + 1` (the level of the entry, not of
 * the table it points to). __arm_lpae_free_pgtable then walks the last-level
 * table as if it were one level up: there a page descriptor (type 0b11) is
 * not a leaf (only a block, 0b01, is), so every 4 KiB page the table maps is
 * taken for a next-level table, "freed" at the last level, and handed back to
 * the page allocator — the user pages that were just unmapped, still mapped
 * in the process (and in the kernel still pinned until iommufd unpins them).
 *
 * Observably, after the IOAS unmap: the process's buffer reads back zeroes
 * (the pages were scrubbed on free), and the next allocations — a page-table
 * page of any domain, another buffer — are carved out of pages the process
 * still owns, so its writes land in another domain's page table or another
 * buffer and DMA through that table goes wherever the user wrote.
 *
 * Applied as: each Arm LPAE table's table-dropping step frees the dropped
 * table's subtree one level too high.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IotlbGather } from '../../../impl/pagetable/gather.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The members of ArmLpaeTable the step uses (protected/private in TypeScript only). */
interface ArmInternals {
  u32: Uint32Array;
  itemSize: Float64Array;
  mappedBytes: number;
  tablePa(lo: number, hi: number): number;
  leafBytes(table: number, level: number): number;
  flush(pa: number, bytes: number): void;
  freeSubtree(table: number, level: number, gather: IotlbGather): void;
  sync(gather: IotlbGather): void;
  dropTable(w: number, level: number, va: number): void;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-unmap-frees-table-at-own-level', profile, {
    domain: (d) => {
      const pt: IoPageTable | null | undefined = d.hw?.pt;
      if (!pt || pt.g.driver !== 'io-pgtable-arm') return;
      const t = pt as unknown as ArmInternals;
      const walkGather = new IotlbGather();
      patchOwn(t, 'dropTable', () => (w: number, level: number, va: number) => {
        const u = t.u32;
        const child = t.tablePa(u[w]!, u[w + 1]!);
        t.mappedBytes -= t.leafBytes(child, level - 1);
        u[w] = 0;
        u[w + 1] = 0;
        t.flush(w * 4, 8);
        const g = walkGather;
        g.reset();
        g.addRange(va, t.itemSize[level]!);
        // THE FAULT: __arm_lpae_free_pgtable(data, lvl, iopte_deref(pte, data)) — the entry's level.
        t.freeSubtree(child, level, g);
        t.sync(g);
      });
    },
  });
}
