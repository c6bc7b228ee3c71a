/**
 * Shared by the faults in generic_pt's __unmap_range (iommu_pt.h): a copy of
 * the reference's IoPageTable.unmapLevel whose two tests are steps — whether
 * a lower table the range reaches is fully covered (freed with its entry
 * cleared: the range starts at or before the table's span and ends at or
 * after it) and whether a leaf is refused for being cut (the kernel's: only
 * the entry the range starts in, when the range's start is not aligned to
 * the leaf's size). Installed per table with patchOwn on the own property
 * `unmapLevel` (a 7.3 generic_pt table; io-pgtable-arm and the 6.12 drivers
 * unmap through their own code).
 */
import { EINVAL } from '../../../impl/lib/errno.ts';
import { PT_ENTRY_EMPTY, PT_ENTRY_OA, PT_ENTRY_TABLE, type PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { modPow2 } from '../../../impl/pagetable/pgsize.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { patchOwn } from '../harness.ts';

/** What __unmap_range reads of an IoPageTable (protected/private members there, plain at run time). */
interface TableInternals {
  readonly u32: Uint32Array;
  readonly fmt: PtFormat;
  readonly itemSize: Float64Array;
  readonly itemLg2: Int32Array;
  readonly tableOrder: number[];
  unmapped: number;
  index(va: number, level: number): number;
  tablePa(lo: number, hi: number): number;
  flush(pa: number, bytes: number): void;
  unmapLevel(table: number, level: number, va: number, last: number, gather: IotlbGather): number;
}

export interface UnmapSteps {
  /** Whether the lower table of the entry spanning [entryVa, entryLast] goes whole when [childVa, childLast] of it is unmapped. */
  readonly covered?: (childVa: number, childLast: number, entryVa: number, entryLast: number) => boolean;
  /** Whether a leaf of `size` bytes refuses the unmap (-EINVAL) when the range starts at `va` at this level; `first`: it is the entry the range starts in. */
  readonly cutsLeaf?: (first: boolean, va: number, size: number) => boolean;
}

const kernelCovered = (childVa: number, childLast: number, entryVa: number, entryLast: number): boolean => childVa === entryVa && childLast === entryLast;
const kernelCutsLeaf = (first: boolean, va: number, size: number): boolean => first && modPow2(va, size) !== 0;

/** IoPageTable.unmapLevel over the given steps. */
function unmapLevelWith(steps: UnmapSteps, t: TableInternals, table: number, level: number, va: number, last: number, gather: IotlbGather): number {
  const covers = steps.covered ?? kernelCovered;
  const cutsLeaf = steps.cutsLeaf ?? kernelCutsLeaf;
  const u = t.u32;
  const f = t.fmt;
  const item = t.itemSize[level] as number;
  const base = table >>> 2;
  let i = t.index(va, level);
  const end = t.index(last, level);
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
      const covered = covers(childVa, childLast, entryVa, entryLast);
      const child = t.tablePa(lo, hi);
      const r = t.unmapLevel(child, level - 1, childVa, childLast, gather);
      if (r !== 0) return r;
      if (covered) {
        gather.addTable(level - 1, child, t.tableOrder[level - 1] as number);
        u[w] = 0;
        u[w + 1] = 0;
        t.flush(w * 4, 8);
      }
      i++;
      entryVa += item;
      first = false;
      continue;
    }
    const runLg2 = f.contigLg2(lo, hi, level);
    if (runLg2 === 0) {
      if (cutsLeaf(first, va, item)) return -EINVAL;
      // Clear the run of single-entry leaves up to the end or the next non-leaf.
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
      entryVa += (i - s) * item;
      first = false;
      continue;
    }
    const rep = 2 ** runLg2;
    if (cutsLeaf(first, va, item * rep)) return -EINVAL;
    const s = i - (i % rep);
    u.fill(0, base + 2 * s, base + 2 * (s + rep));
    t.flush((base + 2 * s) * 4, rep * 8);
    gather.addLeaf(level, (t.itemLg2[level] as number) + runLg2);
    t.unmapped += rep * item;
    i = s + rep;
    entryVa = Math.floor(entryVa / (item * rep)) * (item * rep) + item * rep;
    first = false;
  }
  return 0;
}

/** Has this generic_pt table unmap through the given steps (every level: the copy recurses through the patched method). */
export function patchUnmapLevel(pt: IoPageTable, steps: UnmapSteps): void {
  const t = pt as unknown as TableInternals;
  patchOwn(t, 'unmapLevel', () => (table, level, va, last, gather) => unmapLevelWith(steps, t, table, level, va, last, gather));
}
