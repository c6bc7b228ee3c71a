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
import { EADDRINUSE } from '../../../impl/lib/errno.ts';
import { PT_ENTRY_EMPTY } from '../../../impl/pagetable/fmt/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { POW2 } from '../../../impl/pagetable/pgsize.ts';
import { mutantImplementation } from '../harness.ts';
import { mapRangePatched, type MapInternals } from './_pt_map.ts';

/** table.ts fillLeaves with the faulty OA step: leaf k of the run at oa + k * item. */
function fillLeavesFaulty(t: MapInternals, table: number, level: number, idx: number, n: number, runLg2: number, oa: number, lg2: number, gather: IotlbGather): number {
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

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-leaf-oa-item-step', profile, {
    // map->oa = oa, as the faulty __map_range_leaf leaves it: the item size per leaf, not the leaf's.
    domain: (d) => mapRangePatched(d, { fillLeaves: fillLeavesFaulty, oaStep: (t, done, _lg2, level) => done * (POW2[t.itemLg2[level] as number] as number) }),
  });
}
