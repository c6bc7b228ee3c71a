/**
 * pt-map-leaf-run-past-table-end (drivers/iommu/generic_pt/iommu_pt.h
 * __map_range_leaf() and its loop bound, pt_range_to_end_index() in
 * drivers/iommu/generic_pt/pt_iter.h; 7.3 generic_pt tables: VT-d second
 * stage, AMD v1, the mock's AMDv1 format).
 *
 * __map_range_leaf() writes the leaves of a map from pts.index up to
 * pts.end_index; the walk (pt_walk_range / __map_range) then moves to the
 * next table for the rest of the range. The end index is the range's last
 * IOVA in this table when the range ends inside it, else the table's end:
 *
 *     static inline unsigned int pt_range_to_end_index(const struct pt_state *pts)
 *     {
 *             unsigned int isz_lg2 = pt_table_item_lg2sz(pts);
 *             struct pt_range *range = pts->range;
 *             unsigned int num_entries_lg2 = pt_num_items_lg2(pts);
 *
 *             if (range->top_level == pts->level)
 *                     return log2_div(fvalog2_mod(range->last_va, range->max_vasz_lg2), isz_lg2) + 1;
 *             if (log2_div_eq(range->va, range->last_va, num_entries_lg2 + isz_lg2))
 *                     return log2_mod(log2_div(range->last_va, isz_lg2), num_entries_lg2) + 1;
 *             return log2_to_int(num_entries_lg2);
 *     }
 *
 * THE FAULT: the run of leaves written into one table is bounded by the
 * range (and the next larger page size) only — not by the table's last
 * entry (`log2_to_int(num_entries_lg2)` / the reference's `fit`). A map whose
 * small-page run starts near the end of a leaf table and continues past the
 * table's span writes its remaining PTEs into the memory after the table
 * page (whatever page the allocator put there: another table, user data),
 * and the next table of the range is never created.
 *
 * What a user sees: IOMMU_IOAS_MAP succeeds; DMA to the IOVAs past the
 * table boundary (e.g. a 2 MiB boundary of 4 KiB pages) faults as unmapped,
 * and eight bytes per lost PTE are written into the page after the table —
 * corrupting another page table (stray translations) or a user page.
 *
 * Applied to every generic_pt table (profile 7.3; the 6.12 drivers map
 * through their own code) by an own-property copy of the reference's
 * mapRange with the one bound removed.
 */
import { EINVAL, ENXIO, ERANGE } from '../../../impl/lib/errno.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { POW2 } from '../../../impl/pagetable/pgsize.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** What map_range reads of an IoPageTable (protected/private there, plain at run time). */
interface MapInternals {
  mapped: number;
  mappedBytes: number;
  err: number;
  readonly oaLimit: number;
  readonly hasPage4k: boolean;
  readonly ncoh: boolean;
  readonly levelOfLg2: Int8Array;
  readonly itemLg2: Int32Array;
  readonly entries: Int32Array;
  readonly scratch: IotlbGather;
  setProt(prot: number): number;
  bestPgsize(va: number, last: number, oa: number): number;
  checkMapRange(va: number, last: number, leafLevel: number): number;
  mapSingle4k(va: number, oa: number): number;
  descendForMap(va: number, level: number): number;
  index(va: number, level: number): number;
  runLength(va: number, oa: number, remaining: number, lg2: number): number;
  fillLeaves(table: number, level: number, idx: number, n: number, runLg2: number, oa: number, lg2: number, gather: IotlbGather): number;
  sync(gather: IotlbGather): void;
  mapRange(iova: number, pa: number, len: number, prot: number): number;
}

function mapRangeFaulty(t: MapInternals, iova: number, pa: number, len: number, prot: number): number {
  t.mapped = 0;
  if (!(prot & 3)) return -EINVAL;
  if (pa >= t.oaLimit || pa < 0) return -ERANGE;
  const rc = t.setProt(prot);
  if (rc !== 0) return rc;
  if (!(len > 0)) return -EINVAL;
  const last = iova + len - 1;
  if (last > Number.MAX_SAFE_INTEGER) return -ERANGE;
  let lg2: number;
  let leafLevel: number;
  if (len === 4096 && t.hasPage4k) {
    if (((iova >>> 0) & 4095) + ((pa >>> 0) & 4095) !== 0) return -ENXIO;
    lg2 = 12;
  } else {
    lg2 = t.bestPgsize(iova, last, pa);
    if (lg2 === 0) return -ENXIO;
  }
  leafLevel = t.levelOfLg2[lg2] as number;
  const crc = t.checkMapRange(iova, last, leafLevel);
  if (crc !== 0) return crc;
  if (lg2 === 12 && len === 4096 && t.hasPage4k && !t.ncoh) {
    const r = t.mapSingle4k(iova, pa);
    if (r <= 0) {
      if (r === 0) {
        t.mapped = 4096;
        t.mappedBytes += 4096;
      }
      return r;
    }
  }
  const gather = t.scratch;
  gather.reset();
  let va = iova;
  let oa = pa;
  let remaining = len;
  let ret = 0;
  while (remaining > 0) {
    if (va !== iova) {
      lg2 = t.bestPgsize(va, va + remaining - 1, oa);
      leafLevel = t.levelOfLg2[lg2] as number;
    }
    const table = t.descendForMap(va, leafLevel);
    if (table < 0) {
      ret = table;
      break;
    }
    const size = POW2[lg2] as number;
    const runLg2 = lg2 - (t.itemLg2[leafLevel] as number);
    const idx = t.index(va, leafLevel);
    // THE FAULT: end_index not clamped to the table's item count, i.e. the
    // reference's Math.min(fit, runLength) with fit = (entries - idx) / 2^runLg2 dropped.
    const n = t.runLength(va, oa, remaining, lg2);
    const done = t.fillLeaves(table, leafLevel, idx, n, runLg2, oa, lg2, gather);
    const bytes = done * size;
    va += bytes;
    oa += bytes;
    remaining -= bytes;
    t.mapped += bytes;
    t.mappedBytes += bytes;
    if (t.err !== 0) {
      ret = t.err;
      break;
    }
    if (done === 0) {
      ret = -EINVAL;
      break;
    }
  }
  if (gather.freelist.length > 0) t.sync(gather);
  return ret;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-leaf-run-past-table-end', profile, {
    domain: (d) => {
      const pt = d.hw?.pt as IoPageTable | undefined;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const t = pt as unknown as MapInternals;
      patchOwn(t, 'mapRange', () => (iova: number, pa: number, len: number, prot: number) => mapRangeFaulty(t, iova, pa, len, prot));
    },
  });
}
