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
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mapRangePatched } from './_pt_map.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-leaf-run-past-table-end', profile, {
    // THE FAULT: end_index not clamped to the table's item count, i.e. the reference's
    // Math.min(fit, runLength) with fit = (entries - idx) / 2^runLg2 dropped.
    domain: (d) => mapRangePatched(d, { runCount: (t, va, oa, remaining, lg2) => t.runLength(va, oa, remaining, lg2) }),
  });
}
