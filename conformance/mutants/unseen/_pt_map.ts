/**
 * Shared by the faults in generic_pt's map_range (iommu_pt.h): a copy of the
 * reference's IoPageTable.mapRange whose choices are steps — how many leaves
 * one run writes from an index (the kernel: up to the range's end or a larger
 * size, clamped to the table's last entry: pt_range_to_end_index), how they
 * are written (__map_range_leaf) and how far the output address moves after
 * them (map->oa, by the leaves' size). Applied to every generic_pt table.
 */
import { EINVAL, ENXIO, ERANGE } from '../../../impl/lib/errno.ts';
import type { PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { POW2 } from '../../../impl/pagetable/pgsize.ts';
import type { IommuDomain } from '../../../impl/platform/index.ts';
import { patchOwn } from '../harness.ts';

/** The IoPageTable members map_range touches (protected/private in table.ts, plain at run time). */
export interface MapInternals {
  mapped: number;
  mappedBytes: number;
  err: number;
  readonly u32: Uint32Array;
  readonly fmt: PtFormat;
  readonly oaLimit: number;
  readonly hasPage4k: boolean;
  readonly ncoh: boolean;
  readonly levelOfLg2: Int8Array;
  readonly itemLg2: Int32Array;
  readonly entries: Int32Array;
  readonly attrs: Int32Array;
  readonly scratch: IotlbGather;
  setProt(prot: number): number;
  bestPgsize(va: number, last: number, oa: number): number;
  checkMapRange(va: number, last: number, leafLevel: number): number;
  mapSingle4k(va: number, oa: number): number;
  descendForMap(va: number, level: number): number;
  index(va: number, level: number): number;
  runLength(va: number, oa: number, remaining: number, lg2: number): number;
  fillLeaves(table: number, level: number, idx: number, n: number, runLg2: number, oa: number, lg2: number, gather: IotlbGather): number;
  clearSlotForLeaf(w: number, level: number, gather: IotlbGather): boolean;
  flush(pa: number, bytes: number): void;
  sync(gather: IotlbGather): void;
  mapRange(iova: number, pa: number, len: number, prot: number): number;
}

export interface MapRangeSteps {
  /** Leaves of 2^lg2 one run writes from `idx` of its table at `level` (the kernel: clamped to the table's end). */
  readonly runCount?: (t: MapInternals, va: number, oa: number, remaining: number, lg2: number, level: number, idx: number, runLg2: number) => number;
  /** __map_range_leaf: write `n` leaves from `idx`; the leaves written. */
  readonly fillLeaves?: (t: MapInternals, table: number, level: number, idx: number, n: number, runLg2: number, oa: number, lg2: number, gather: IotlbGather) => number;
  /** How far map->oa moves after `done` leaves of 2^lg2 at `level` (the kernel: done * 2^lg2). */
  readonly oaStep?: (t: MapInternals, done: number, lg2: number, level: number) => number;
  /** A single system page is tried (__map_single_page at the current top) before the range is checked or the top grown. */
  readonly singlePageFirst?: boolean;
}

/** table.ts mapRange (generic_pt map_range) over the given steps. */
function mapRangeWith(t: MapInternals, { runCount = (u, va, oa, remaining, lg2, level, idx, runLg2) => Math.min(Math.floor(((u.entries[level] as number) - idx) / (POW2[runLg2] as number)), u.runLength(va, oa, remaining, lg2)), fillLeaves = (u, ...args) => u.fillLeaves(...args), oaStep = (_u, done, lg2) => done * (POW2[lg2] as number), singlePageFirst = false }: MapRangeSteps): (iova: number, pa: number, len: number, prot: number) => number {
  return (iova, pa, len, prot) => {
    t.mapped = 0;
    if (!(prot & 3)) return -EINVAL;
    if (pa >= t.oaLimit || pa < 0) return -ERANGE;
    const rc = t.setProt(prot);
    if (rc !== 0) return rc;
    const singlePage = len === 4096 && t.hasPage4k && !t.ncoh;
    if (singlePageFirst && singlePage) {
      if (((iova >>> 0) & 4095) + ((pa >>> 0) & 4095) !== 0) return -ENXIO;
      const r = t.mapSingle4k(iova, pa);
      if (r <= 0) {
        if (r === 0) {
          t.mapped = 4096;
          t.mappedBytes += 4096;
        }
        return r;
      }
      // -EAGAIN: on as the kernel's own order goes, from the range check.
    }
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
    if (lg2 === 12 && singlePage) {
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
      const n = runCount(t, va, oa, remaining, lg2, leafLevel, idx, runLg2);
      const done = fillLeaves(t, table, leafLevel, idx, n, runLg2, oa, lg2, gather);
      const bytes = done * size;
      va += bytes;
      oa += oaStep(t, done, lg2, leafLevel);
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
  };
}

/** Patches a domain's generic_pt table with map_range taken through `steps`. */
export function mapRangePatched(d: IommuDomain, steps: MapRangeSteps): void {
  const pt = d.hw?.pt;
  if (!pt || pt.g.driver !== 'generic_pt') return;
  const t = pt as unknown as MapInternals;
  patchOwn(t, 'mapRange', () => mapRangeWith(t, steps));
}
