/**
 * H8.6 — arm-unmap-table-no-walk-flush (drivers/iommu/io-pgtable-arm.c
 * __arm_lpae_unmap).
 *
 * When an unmap at a block size (2 MiB on a 4 KiB granule) finds a table
 * where it would clear a block — a 2 MiB-aligned span that was mapped with
 * 4 KiB pages because the physical pages were not 2 MiB-aligned — it frees
 * that table whole, after telling the SMMU to forget walks through it:
 *     } else if (!iopte_leaf(pte, lvl, iop->fmt)) {
 *             // Also flush any partial walks
 *             io_pgtable_tlb_flush_walk(iop, iova + i * size, size,
 *                                       ARM_LPAE_GRANULE(data));
 *             __arm_lpae_free_pgtable(data, lvl + 1, iopte_deref(pte, data));
 *     }
 * The gather the unmap then reports to the iommu core holds only the leaf
 * range (io_pgtable_tlb_add_page), so arm_smmu_iotlb_sync issues a leaf
 * TLBI: the walk flush is the only non-leaf invalidation for that table.
 * The fault drops it (the comment's "partial walks" read as something the
 * final sync covers).
 *
 * Consequence: the SMMU's walk cache keeps the (ASID, 2 MiB span) → table
 * entry for a table page that is freed right away. When the page is reused
 * — the next table the SMMU driver allocates, in this domain or another —
 * a device access to the unmapped IOVA hits the cached table pointer and is
 * translated by whatever that page now holds: DMA through an IOVA the IOAS
 * no longer maps, into memory of another span or another domain.
 *
 * Applied as: on io-pgtable-arm tables, a table freed by an unmap is cleared
 * and freed without the walk flush.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

interface ArmInternals {
  readonly u32: Uint32Array;
  mappedBytes: number;
  tablePa(lo: number, hi: number): number;
  leafBytes(table: number, level: number): number;
  flush(pa: number, bytes: number): void;
  freeSubtree(table: number, level: number, gather: IotlbGather): void;
  freeTable(pa: number, order: number): void;
  dropTable(w: number, level: number, va: number): void;
  unmapNoSync(iova: number, len: number, gather: IotlbGather): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-unmap-table-no-walk-flush', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'io-pgtable-arm') return;
      const t = pt as unknown as ArmInternals;
      let inUnmap = 0;
      patchOwn(t, 'unmapNoSync', (unmap) => (iova: number, len: number, gather: IotlbGather) => {
        inUnmap++;
        try {
          return unmap(iova, len, gather);
        } finally {
          inUnmap--;
        }
      });
      const freed = new IotlbGather();
      patchOwn(t, 'dropTable', (drop) => (w: number, level: number, va: number) => {
        if (inUnmap === 0) return drop(w, level, va); // arm_lpae_init_pte's replacement of a table (map path)
        const u = t.u32;
        const child = t.tablePa(u[w] as number, u[w + 1] as number);
        t.mappedBytes -= t.leafBytes(child, level - 1);
        u[w] = 0;
        u[w + 1] = 0;
        t.flush(w * 4, 8);
        // THE FAULT: no io_pgtable_tlb_flush_walk before __arm_lpae_free_pgtable.
        freed.reset();
        t.freeSubtree(child, level - 1, freed);
        const fl = freed.freelist;
        for (let i = 0; i < fl.length; i += 2) t.freeTable(fl[i] as number, fl[i + 1] as number);
        freed.reset();
      });
    },
  });
}
