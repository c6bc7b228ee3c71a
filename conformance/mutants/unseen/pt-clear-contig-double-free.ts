/**
 * pt-clear-contig-double-free (drivers/iommu/generic_pt/iommu_pt.h
 * clear_contig, called by __map_range_leaf from map_pages/map_range).
 *
 * When generic_pt installs a large leaf where an empty lower table is still
 * linked (the table an earlier small mapping needed, left behind because the
 * unmap that emptied it did not cover its whole span), clear_contig collects
 * that table and everything below it and defers the free until the walk
 * caches have been invalidated:
 *     ret = pt_walk_descend_all(&pts, __collect_tables, &collect);
 *     ...
 *     pt_clear_entries(&pts, ilog2(1));
 *     flush_writes_item(&pts);
 *     iommu_pages_list_add(&collect.free_list, pt_table_ptr(&pts));
 *     gather_range_pages(iotlb_gather, iommu_table, range.va,
 *                        log2_to_int(pt_table_item_lg2sz(&pts)),
 *                        &collect.free_list);
 * and map_pages ends with iommu_iotlb_sync(), which flushes and then frees
 * the gather's free list.
 *
 * THE FAULT: the cleared table is also released on the spot, with the
 * iommu_pages_free_incoherent() that pt_iommu_new_table() uses when it loses
 * the install race (copied along when the clear was factored out), while it
 * is still on the free list: iommu_iotlb_sync() frees the same table page a
 * second time. The page allocator then owns the page twice: the next two
 * allocations of that order get the same page — two page tables (of the same
 * or of two domains, possibly of two contexts) or a page table and a user's
 * anonymous page. If the first free is reused before the sync (a later table
 * of the same map), the sync frees — and zeroes — a live table.
 *
 * Consequence for a user: after mapping a huge-page-backed buffer over an IOVA
 * range where smaller mappings used to be (map 4 KiB at X, unmap it, map a
 * 2 MiB-aligned huge buffer at X), one table page is double-freed. Later page
 * tables alias each other or a process's memory: a device's DMA is translated
 * through entries another domain (or the user, through its own buffer) wrote,
 * mapped IOVAs stop translating, or a buffer's pages alias each other.
 *
 * Applied as: every generic_pt paging domain (7.3 VT-d, AMD v1, selftest mock;
 * not io-pgtable-arm) frees the table it clears for a large leaf at once, and
 * the gather still frees it after the flush.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { PT_ENTRY_TABLE } from '../../../impl/pagetable/fmt/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IoPageTable members clear_contig touches (protected/private in table.ts). */
interface TableInternals {
  readonly u32: Uint32Array;
  readonly tableOrder: number[];
  readonly fmt: { entryType(lo: number, hi: number, level: number): number };
  tablePa(lo: number, hi: number): number;
  freeTable(pa: number, order: number): void;
  clearSlotForLeaf(w: number, level: number, gather: IotlbGather): boolean;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-clear-contig-double-free', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const t = pt as unknown as TableInternals;
      patchOwn(t, 'clearSlotForLeaf', (clearSlot) => (w: number, level: number, gather: IotlbGather) => {
        const lo = t.u32[w] as number;
        const hi = t.u32[w + 1] as number;
        const wasTable = t.fmt.entryType(lo, hi, level) === PT_ENTRY_TABLE;
        const child = wasTable ? t.tablePa(lo, hi) : 0;
        const cleared = clearSlot(w, level, gather); // collected onto the gather's free list
        // THE FAULT: … and released right away as well.
        if (cleared && wasTable) t.freeTable(child, t.tableOrder[level - 1] as number);
        return cleared;
      });
    },
  });
}
