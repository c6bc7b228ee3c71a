/**
 * pt-map-leaf-oa-item-step (drivers/iommu/generic_pt/iommu_pt.h
 * __map_range_leaf).
 *
 * __map_range_leaf installs a run of leaves of one page size in one table and
 * advances the output address by that page size per leaf. A leaf larger than
 * the table's item (a contiguous leaf: AMD v1 / the selftest's AMDv1 mock use
 * NextLevel=7 entries replicated over 2^n items; 4 KiB pages of the 2 KiB-granule
 * mock are such leaves) occupies `step` entries:
 *     step = log2_to_int_t(unsigned int, leaf_pgsize_lg2 - pt_table_item_lg2sz(&pts));
 *     ...
 *     pt_install_leaf_entry(&pts, oa, leaf_pgsize_lg2, &map->attrs);
 *     oa += log2_to_int(leaf_pgsize_lg2);
 *     pts.index += step;
 *     ...
 *     map->oa = oa;
 *
 * THE FAULT: the output address is advanced by the table item size,
 *     oa += log2_to_int(pt_table_item_lg2sz(&pts));
 * (the same expression the index stepping is derived from). With one entry
 * per leaf (VT-d, x86, 4 KiB AMD v1 pages) nothing changes; for contiguous
 * leaves the second and later leaves of a run are installed at the wrong
 * physical address — overlapping the previous leaf, and, when the address is
 * no longer aligned to the leaf, with low OA bits that the NextLevel=7
 * encoding reads as part of the size code (a larger leaf at a rounded-down
 * address). map->oa carries the short advance into the rest of the map.
 *
 * Consequence for a user: on the mock (any run of 4 KiB pages: each is two
 * 2 KiB items) and on amd0 (runs of equal leaves larger than 4 KiB), a mapping
 * of physically contiguous pages makes a device's DMA at the later pages of the area land
 * on other pages than the user mapped there — earlier pages of the buffer,
 * or, through the misdecoded larger leaves, physical memory next to the
 * buffer that the IOAS never mapped; the pages the user mapped at those IOVAs
 * are unreachable although pinned.
 *
 * Applied as: every generic_pt paging domain maps through a copy of the
 * reference's map_range (table.ts mapRange/fillLeaves) with the faulty OA
 * step; io-pgtable-arm and the 6.12 drivers are untouched.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, ENXIO, ERANGE, EADDRINUSE } from '../../../impl/lib/errno.ts';
import { PT_ENTRY_EMPTY, type PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { POW2 } from '../../../impl/pagetable/pgsize.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IoPageTable members map_range touches (protected/private in table.ts). */
interface TableInternals {
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
  clearSlotForLeaf(w: number, level: number, gather: IotlbGather): boolean;
  flush(pa: number, bytes: number): void;
  sync(gather: IotlbGather): void;
  mapRange(iova: number, pa: number, len: number, prot: number): number;
}

/** table.ts fillLeaves with the faulty OA step: leaf k of the run at oa + k * item. */
function fillLeavesFaulty(t: TableInternals, table: number, level: number, idx: number, n: number, runLg2: number, oa: number, lg2: number, gather: IotlbGather): number {
  const u = t.u32;
  const f = t.fmt;
  const base = (table >>> 2) + 2 * idx;
  const rep = POW2[runLg2] as number;
  const itemLg2 = t.itemLg2[level] as number;
  t.err = 0;
  let k = 0;
  for (; k < n; k++) {
    const w0 = base + 2 * k * rep;
    let busy = false;
    for (let r = 0; r < rep; r++) {
      const w = w0 + 2 * r;
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      if ((lo === 0 && hi === 0) || f.entryType(lo, hi, level) === PT_ENTRY_EMPTY) continue;
      if (!t.clearSlotForLeaf(w, level, gather)) {
        busy = true;
        break;
      }
    }
    if (busy) {
      t.err = -EADDRINUSE;
      break;
    }
  }
  let a = oa;
  for (let j = 0; j < k; j++) {
    f.writeLeaves(u, base + 2 * j * rep, 1, a, lg2, itemLg2, level, t.attrs[0] as number, t.attrs[1] as number);
    a += POW2[itemLg2] as number; // THE FAULT: the item size, not the leaf size (2^lg2)
  }
  if (k > 0) t.flush(base * 4, k * rep * 8);
  return k;
}

/** table.ts mapRange (generic_pt map_range) with map->oa advanced as __map_range_leaf (faulty) leaves it. */
function mapRangeFaulty(t: TableInternals, iova: number, pa: number, len: number, prot: number): number {
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
      if (lg2 === 0) {
        ret = -ENXIO;
        break;
      }
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
    const fit = ((t.entries[leafLevel] as number) - idx) / (POW2[runLg2] as number);
    const n = Math.min(Math.floor(fit), t.runLength(va, oa, remaining, lg2));
    const done = fillLeavesFaulty(t, table, leafLevel, idx, n, runLg2, oa, lg2, gather);
    const bytes = done * size;
    va += bytes;
    oa += done * (POW2[t.itemLg2[leafLevel] as number] as number); // map->oa = oa (the faulty advance)
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
  return mutantImplementation('pt-map-leaf-oa-item-step', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const t = pt as unknown as TableInternals;
      patchOwn(t, 'mapRange', () => (iova: number, pa: number, len: number, prot: number) => mapRangeFaulty(t, iova, pa, len, prot));
    },
  });
}
