/**
 * Fault J8 — pt-unmap-covered-by-end (page-table core).
 *
 * generic_pt's __unmap_range (iommu_pt.h) descends into a lower table and,
 * when the unmapped range fully covers that table's span, frees the table and
 * clears the entry that points to it (fully_covered: the range starts at or
 * before the span's first IOVA *and* ends at or after its last). The fault
 * tests the end only: an unmap that starts inside a table's span and runs to
 * (or past) its end frees the whole lower table, with the leaves of other
 * mappings before the unmapped range in it. Those IOVAs silently stop
 * translating (the IOTLB may still hold them: the flush covers the unmapped
 * range only), and a later unmap of them finds an empty entry and unmaps 0
 * bytes, issuing no invalidation, so a cached translation of an area that
 * userspace unmapped (and the kernel unpinned) survives — a table-boundary
 * slip in the page-table walk.
 *
 * Applied to every generic_pt table of the instance's paging domains (7.3:
 * VT-d, AMD, the mock's AMDv1 format) by an own-property copy of the table's
 * unmapLevel (__unmap_range) with the one changed condition.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { PT_ENTRY_EMPTY, PT_ENTRY_OA, PT_ENTRY_TABLE } from '../../../impl/pagetable/fmt/types.ts';
import { modPow2 } from '../../../impl/pagetable/pgsize.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';

/** The fields of IoPageTable that __unmap_range reads (protected/private in TS, plain at run time). */
interface Inner {
  u32: Uint32Array;
  fmt: IoPageTable['fmt'];
  itemSize: Float64Array;
  itemLg2: Int32Array;
  tableOrder: number[];
  unmapped: number;
  index(va: number, level: number): number;
  tablePa(lo: number, hi: number): number;
  flush(pa: number, bytes: number): void;
  unmapLevel(table: number, level: number, va: number, last: number, gather: IotlbGather): number;
}

/** __unmap_range for one table with the fault (a copy of IoPageTable.unmapLevel). */
function unmapLevel(this: Inner, table: number, level: number, va: number, last: number, gather: IotlbGather): number {
  const u = this.u32;
  const f = this.fmt;
  const item = this.itemSize[level] as number;
  const base = table >>> 2;
  let i = this.index(va, level);
  const end = this.index(last, level);
  let first = true;
  let entryVa = Math.floor(va / item) * item;
  while (i <= end) {
    const w = base + 2 * i;
    const lo = u[w] as number;
    const hi = u[w + 1] as number;
    const type = lo === 0 && hi === 0 ? PT_ENTRY_EMPTY : f.entryType(lo, hi, level);
    if (type === PT_ENTRY_EMPTY) return -EINVAL;
    if (type === PT_ENTRY_TABLE) {
      const childVa = first ? va : entryVa;
      const entryLast = entryVa + item - 1;
      const childLast = entryLast < last ? entryLast : last;
      const covered = childLast === entryLast; // THE FAULT: `childVa === entryVa &&` is missing
      const child = this.tablePa(lo, hi);
      const r = this.unmapLevel(child, level - 1, childVa, childLast, gather);
      if (r !== 0) return r;
      if (covered) {
        gather.addTable(level - 1, child, this.tableOrder[level - 1] as number);
        u[w] = 0;
        u[w + 1] = 0;
        this.flush(w * 4, 8);
      }
      i++;
      entryVa += item;
      first = false;
      continue;
    }
    const runLg2 = f.contigLg2(lo, hi, level);
    if (runLg2 === 0) {
      if (first && modPow2(va, item) !== 0) return -EINVAL;
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
      this.flush((base + 2 * s) * 4, (i - s) * 8);
      gather.addLeaf(level, this.itemLg2[level] as number);
      this.unmapped += (i - s) * item;
      entryVa += (i - s) * item;
      first = false;
      continue;
    }
    const rep = 2 ** runLg2;
    if (first && modPow2(va, item * rep) !== 0) return -EINVAL;
    const s = i - (i % rep);
    u.fill(0, base + 2 * s, base + 2 * (s + rep));
    this.flush((base + 2 * s) * 4, rep * 8);
    gather.addLeaf(level, (this.itemLg2[level] as number) + runLg2);
    this.unmapped += rep * item;
    i = s + rep;
    entryVa = Math.floor(entryVa / (item * rep)) * (item * rep) + item * rep;
    first = false;
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-unmap-covered-by-end', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      // generic_pt only: the 6.12 drivers' own algorithms (io-pgtable-arm, intel/amd legacy) replace unmapNoSync.
      if (!pt || pt.g.driver !== 'generic_pt') return;
      patchOwn(pt as unknown as Inner, 'unmapLevel', () => unmapLevel);
    },
  });
}
