/**
 * pt-unmap-lower-table-stale-va (drivers/iommu/generic_pt/iommu_pt.h
 * __unmap_range; 7.3: every VT-d second-stage, AMD v1 and selftest AMDv1-mock
 * domain unmaps through it).
 *
 * generic_pt computes an entry's VA lazily: pts->range->va only says where
 * the walk started, and __unmap_range moves it to the current entry before
 * it descends into any table entry that is not the first one it visits:
 *
 *         if (pts.type != PT_ENTRY_TABLE) {
 *                 ret = -EINVAL;
 *                 break;
 *         }
 *
 *         if (pts.index != start_index)
 *                 pt_index_to_va(&pts);
 *         pts.table_lower = pt_table_ptr(&pts);
 *
 *         fully_covered = pt_entry_fully_covered(
 *                 &pts, pt_table_item_lg2sz(&pts));
 *
 *         ret = pt_descend(&pts, arg, __unmap_range);
 *
 * The lower level starts its own iteration from range->va (_pt_iter_first:
 * pt_range_to_index / pt_range_to_end_index), and pt_entry_fully_covered
 * reads it too. The fault drops the pt_index_to_va() call ("the descend
 * recomputes the VA from the index", a plausible micro-optimisation next to
 * the "Micro optimization" goto of the same function, and harmless in every
 * test whose range starts at a table boundary).
 *
 * What changes: an unmap whose range crosses from one lower table into the
 * next (an IOAS area straddling a 2 MiB boundary at any 4 KiB-granule level,
 * 1 MiB for the 2 KiB mock) walks the second table from the stale VA: it
 * starts at the index the range started at in the FIRST table, and since the
 * stale VA and last_va lie in different tables it runs to the end of the
 * table (or to the first hole, -EINVAL). The leaves of the second table below
 * that index stay mapped; leaves above last_va (another area's) are cleared;
 * the table is never "fully covered" unless the start was aligned. The unmap
 * returns a short count, iommufd unpins the area anyway (iommu_unmap_nofail
 * only WARNs), and:
 *   - the device still translates the tail of the unmapped area into pages
 *     that are no longer pinned (DMA confinement / page lifetime);
 *   - a later IOAS_MAP over those IOVAs fails (-EADDRINUSE from map_range
 *     meeting the leftover leaf) although the IOAS says they are free;
 *   - a neighbouring area later in that table can lose its leaves (DMA to it
 *     faults) and, being outside the gathered range, keep stale IOTLB entries.
 * Ranges starting at a table-aligned IOVA (the common hugepage case) are not
 * affected, nor are the 6.12 drivers (their own unmap code).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { PT_ENTRY_EMPTY, PT_ENTRY_OA, PT_ENTRY_TABLE, type PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { modPow2 } from '../../../impl/pagetable/pgsize.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** What __unmap_range reads of an IoPageTable (protected/private there, plain at run time). */
interface TableInternals {
  readonly u32: Uint32Array;
  readonly fmt: PtFormat;
  readonly itemSize: Float64Array;
  readonly itemLg2: Int32Array;
  readonly entries: Int32Array;
  readonly tableOrder: number[];
  readonly topLevel: number;
  unmapped: number;
  index(va: number, level: number): number;
  tablePa(lo: number, hi: number): number;
  flush(pa: number, bytes: number): void;
  unmapLevel(table: number, level: number, va: number, last: number, gather: IotlbGather): number;
}

/**
 * __unmap_range over one table. `rangeVa` is pts->range->va as the walk
 * finds it (the kernel's lazily updated VA), `last` is range->last_va. The
 * iteration bounds are _pt_iter_first's: from the index of range->va to the
 * index of last_va when both lie in this table, else to its end.
 */
function unmapRange(t: TableInternals, table: number, level: number, rangeVa: number, last: number, gather: IotlbGather): number {
  const u = t.u32;
  const f = t.fmt;
  const item = t.itemSize[level] as number;
  const span = item * (t.entries[level] as number);
  const base = table >>> 2;
  let i = t.index(rangeVa, level);
  const sameTable = level === t.topLevel || Math.floor(rangeVa / span) === Math.floor(last / span);
  const end = sameTable ? t.index(last, level) : (t.entries[level] as number) - 1;
  let first = true;
  while (i <= end) {
    const w = base + 2 * i;
    const lo = u[w] as number;
    const hi = u[w + 1] as number;
    const type = lo === 0 && hi === 0 ? PT_ENTRY_EMPTY : f.entryType(lo, hi, level);
    if (type === PT_ENTRY_EMPTY) return -EINVAL;
    if (type === PT_ENTRY_TABLE) {
      // THE FAULT: `if (pts.index != start_index) pt_index_to_va(&pts);` is gone,
      // so range->va still holds where the walk started.
      const covered = modPow2(rangeVa, item) === 0 && (Math.floor(rangeVa / item) !== Math.floor(last / item) || modPow2(last + 1, item) === 0);
      const child = t.tablePa(lo, hi);
      const r = unmapRange(t, child, level - 1, rangeVa, last, gather);
      if (r !== 0) return r;
      if (covered) {
        gather.addTable(level - 1, child, t.tableOrder[level - 1] as number);
        u[w] = 0;
        u[w + 1] = 0;
        t.flush(w * 4, 8);
      }
      i++;
      first = false;
      continue;
    }
    const runLg2 = f.contigLg2(lo, hi, level);
    if (runLg2 === 0) {
      if (first && modPow2(rangeVa, item) !== 0) return -EINVAL; // starts inside a large leaf
      const s = i;
      u[w] = 0;
      u[w + 1] = 0;
      i++;
      while (i <= end) {
        const wl = base + 2 * i;
        const l2 = u[wl] as number;
        const h2 = u[wl + 1] as number;
        if ((l2 === 0 && h2 === 0) || f.entryType(l2, h2, level) !== PT_ENTRY_OA || f.contigLg2(l2, h2, level) !== 0) break;
        u[wl] = 0;
        u[wl + 1] = 0;
        i++;
      }
      t.flush((base + 2 * s) * 4, (i - s) * 8);
      gather.addLeaf(level, t.itemLg2[level] as number);
      t.unmapped += (i - s) * item;
      first = false;
      continue;
    }
    const rep = 2 ** runLg2;
    if (first && modPow2(rangeVa, item * rep) !== 0) return -EINVAL;
    const s = i - (i % rep);
    u.fill(0, base + 2 * s, base + 2 * (s + rep));
    t.flush((base + 2 * s) * 4, rep * 8);
    gather.addLeaf(level, (t.itemLg2[level] as number) + runLg2);
    t.unmapped += rep * item;
    i = s + rep;
    first = false;
  }
  return 0;
}

function patchTable(pt: IoPageTable): void {
  if (pt.g.driver !== 'generic_pt') return; // io-pgtable-arm and the 6.12 drivers unmap with their own code
  const t = pt as unknown as TableInternals;
  patchOwn(t, 'unmapLevel', () => (table, level, va, last, gather) => unmapRange(t, table, level, va, last, gather));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-unmap-lower-table-stale-va', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt) patchTable(pt);
    },
  });
}
