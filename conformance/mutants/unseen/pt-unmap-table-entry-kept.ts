/**
 * Round 5b fault (drivers/iommu/generic_pt/iommu_pt.h
 * __unmap_range, the fully-covered table branch).
 *
 * When an unmap covers the whole span of a lower table, __unmap_range queues
 * the table on the gather's free list (gather_add_table) and then clears the
 * entry that points to it (pt_clear_entries(&pts, ilog2(1)), "the clear is
 * delayed until we succeed in clearing the lower table levels"). The fault
 * drops that clear: the table page is freed after the IOTLB sync while the
 * parent still points to it. The page goes back to the page allocator and is
 * handed out again (as a user page, another domain's table, ...); the IOMMU
 * walks it as this domain's table, a later map in the same span writes PTEs
 * into whatever the page has become, and the domain's teardown frees it a
 * second time. A use-after-free of a page-table page: a 2 MiB-aligned unmap
 * of 4 KiB leaves on VT-d or AMD v1 (1 MiB on the AMDv1 mock) is enough.
 *
 * Applied to every generic_pt table (7.3): the table entries the reference's
 * unmap cleared for tables it freed are written back.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { PT_ENTRY_TABLE } from '../../../impl/pagetable/fmt/types.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** Every table entry under `table` (at `level`) that covers part of [va, last]: [word, lo, hi, child PA]. */
function tableEntries(pt: IoPageTable, table: number, level: number, va: number, last: number, out: [number, number, number, number][]): void {
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
    out.push([w, lo, hi, child]);
    tableEntries(pt, child, level - 1, Math.max(va, e), Math.min(last, e + item - 1), out);
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-unmap-table-entry-kept', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      patchOwn(pt, 'unmapNoSync', (orig) => (iova: number, len: number, gather: IotlbGather) => {
        const wide = (pt as unknown as { winHi: number }).winHi !== 0;
        const entries: [number, number, number, number][] = [];
        if (!wide && len > 0 && iova >= 0) tableEntries(pt, pt.root, pt.topLevel, iova, iova + len - 1, entries);
        const n = orig(iova, len, gather);
        if (gather.freelist.length === 0) return n;
        const freed = new Set<number>();
        for (let i = 0; i < gather.freelist.length; i += 2) freed.add(gather.freelist[i]!);
        const u = pt.mem.u32;
        for (const [w, lo, hi, child] of entries) {
          // THE FAULT: gather_add_table() without the pt_clear_entries() that should follow it.
          if (freed.has(child) && u[w] === 0 && u[w + 1] === 0) {
            u[w] = lo;
            u[w + 1] = hi;
          }
        }
        return n;
      });
    },
  });
}
