/**
 * pt-unmap-frees-parent-table (drivers/iommu/generic_pt/iommu_pt.h
 * __unmap_range, the fully-covered table branch; 7.3 only: generic_pt
 * domains are VT-d second stage, AMD v1 and the selftest's AMDv1 mock).
 *
 * When an unmap covers the whole span of a lower table, __unmap_range queues
 * that lower table for freeing after the IOTLB sync and clears the entry that
 * points to it:
 *
 *             if (fully_covered) {
 *                     gather_add_table(&unmap->pending, &pts,
 *                                      pts.table_lower);
 *                     pt_clear_entries(&pts, ilog2(1));
 *
 * The fault passes `pts.table` — the table being walked, the one that holds
 * the entry — instead of `pts.table_lower` (both are struct pt_table_p * of
 * the same pt_state, and clear_contig's own call a few lines up names the
 * pair the same way). The covered lower table is unlinked but never freed
 * (a leak), and the table one level up, still linked from its parent and
 * still holding the entries of every other mapping in its span, goes to the
 * free list and back to the page allocator once the sync has run.
 *
 * Observably, over two objects: unmapping area A (a table-sized, aligned
 * range mapped with small leaves: a 2 MiB area of 4 KiB leaves on VT-d/AMD,
 * 1 MiB on the mock) silently destroys the translations of area B mapped in
 * the same upper table — B's DMA faults and `translate` says unmapped while
 * the IOAS still maps B. The freed page is handed out again (the next table
 * or user page), and the parent still points at it, so B's IOVAs then walk
 * whatever the page has become; the domain's teardown frees it a second time.
 *
 * Applied as: on every generic_pt table, after the reference's unmap the
 * gather's free list holds, instead of the covered tables, the tables that
 * contained the cleared entries (each once).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { PT_ENTRY_TABLE } from '../../../impl/pagetable/fmt/types.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** For every table entry under `table` (at `level`) overlapping [va, last]: child PA -> [parent PA, parent level]. */
function parentsOf(pt: IoPageTable, table: number, level: number, va: number, last: number, out: Map<number, [number, number]>): void {
  if (level === 0) return;
  const u = pt.mem.u32;
  const item = 2 ** pt.g.itemLg2[level]!;
  const mask = pt.g.entries[level]! - 1;
  for (let e = Math.floor(va / item) * item; e <= last; e += item) {
    const w = (table >>> 2) + 2 * (Math.floor(e / item) & mask);
    const lo = u[w]!;
    const hi = u[w + 1]!;
    if ((lo === 0 && hi === 0) || pt.fmt.entryType(lo, hi, level) !== PT_ENTRY_TABLE) continue;
    const child = pt.tablePa(lo, hi);
    out.set(child, [table, level]);
    parentsOf(pt, child, level - 1, Math.max(va, e), Math.min(last, e + item - 1), out);
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-unmap-frees-parent-table', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const tableOrder = (pt as unknown as { tableOrder: number[] }).tableOrder;
      patchOwn(pt, 'unmapNoSync', (orig) => (iova: number, len: number, gather: IotlbGather) => {
        const wide = (pt as unknown as { winHi: number }).winHi !== 0;
        const parents = new Map<number, [number, number]>();
        if (!wide && len > 0 && iova >= 0 && iova + len - 1 < 2 ** pt.g.vaBits) parentsOf(pt, pt.root, pt.topLevel, iova, iova + len - 1, parents);
        const before = gather.freelist.length;
        const n = orig(iova, len, gather);
        const fl = gather.freelist;
        if (fl.length === before) return n;
        // THE FAULT: gather_add_table(&unmap->pending, &pts, pts.table) — the table holding the entry.
        const queued = new Set<number>();
        for (let i = 0; i < before; i += 2) queued.add(fl[i]!);
        const added = fl.splice(before, fl.length - before);
        for (let i = 0; i < added.length; i += 2) {
          const p = parents.get(added[i]!);
          if (p === undefined || queued.has(p[0])) continue;
          queued.add(p[0]);
          fl.push(p[0], tableOrder[p[1]]!);
        }
        return n;
      });
    },
  });
}
