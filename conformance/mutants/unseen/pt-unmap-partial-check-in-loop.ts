/**
 * pt-unmap-partial-check-in-loop (drivers/iommu/generic_pt/iommu_pt.h
 * __unmap_range).
 *
 * The IOMMU API lets unmap refuse to cut a large IOPTE, and generic_pt does
 * so only for the entry the range *starts* in: before the loop,
 *     pts.type = pt_load_entry_raw(&pts);
 *     if (pts.type == PT_ENTRY_OA) {
 *             if (log2_mod(range->va, pt_entry_oa_lg2sz(&pts)))
 *                     return -EINVAL;
 *             goto start_oa;
 *     }
 *     do { ... start_oa: num_contig_lg2 = pt_entry_num_contig_lg2(&pts);
 *              pt_clear_entries(&pts, num_contig_lg2); ... } while (true);
 * Every later leaf the range reaches starts where the previous entry ended,
 * so it is whole and is cleared.
 *
 * The fault: the "starts in the middle of a contiguous entry" test is made
 * for every OA entry the loop meets (the goto folded into the loop), still
 * against range->va, the start of the unmap at that level. A range that does
 * not start aligned to a later, larger leaf — an area that begins with small
 * pages and continues with a 2M leaf (VT-d, AMD) or a contiguous run of 8K,
 * 16K... (AMD v1 and the AMDv1 mock, every power of two) — stops there with
 * -EINVAL: unmap_pages returns only the bytes cleared before it.
 *
 * Consequence: iommufd's iommu_unmap_nofail() WARNs and goes on, the area is
 * removed from the IOAS and its pages unpinned and uncharged, but the tail of
 * it stays mapped in the domain (and in the IOTLB, whose flush covered only
 * the bytes reported). The device keeps DMA access to pages the user no
 * longer maps — and once the user frees them, to whatever reuses them; a
 * later IOMMU_IOAS_MAP over that IOVA fails with EADDRINUSE.
 *
 * Applied as: every 7.3 generic_pt paging domain's table (VT-d second stage,
 * AMD v1, the AMDv1 mock) unmaps through this copy of __unmap_range.
 * io-pgtable-arm (SMMUv3) and the 6.12 drivers do not use it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { PT_ENTRY_EMPTY, PT_ENTRY_OA, PT_ENTRY_TABLE, type PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { modPow2 } from '../../../impl/pagetable/pgsize.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** What __unmap_range reads of an IoPageTable (protected/private members there). */
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

/** IoPageTable.unmapLevel with the partial-leaf test made for every leaf. */
function unmapLevelFaulty(t: TableInternals, table: number, level: number, va: number, last: number, gather: IotlbGather): number {
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
      const covered = childVa === entryVa && childLast === entryLast;
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
      // THE FAULT: log2_mod(range->va, pt_entry_oa_lg2sz(&pts)) for every leaf, not only the first.
      if (modPow2(va, item) !== 0) return -EINVAL;
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
    // THE FAULT (contiguous entries): the same test against the range's start.
    if (modPow2(va, item * rep) !== 0) return -EINVAL;
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

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-unmap-partial-check-in-loop', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const t = pt as unknown as TableInternals;
      patchOwn(t, 'unmapLevel', () => (table, level, va, last, gather) => unmapLevelFaulty(t, table, level, va, last, gather));
    },
  });
}
