/**
 * H8.8 — pt-grow-top-lower-at-va-index (drivers/iommu/generic_pt/iommu_pt.h
 * increase_top; AMD v1 with PT_FEAT_DYNAMIC_TOP).
 *
 * A map beyond what the current top covers grows the table: a new top is
 * allocated and its entry 0 points at the old top, since the old table
 * translated the VA range that starts at 0. increase_top reuses the
 * pt_range it set up to test the map's range, so it must reset the VA
 * before it loads the new top's entry:
 *     top_range.va = range->va;
 *     top_range.last_va = range->last_va;
 *     …
 *     // The new table links to the lower table always at index 0
 *     top_range.va = 0;
 *     top_range.top_level = pts.level;
 *     …
 *     pt_load_single_entry(&pts);
 *     PT_WARN_ON(pts.index != 0);
 *     pt_install_table(&pts, virt_to_phys(pts.table_lower), &map->attrs);
 * The fault drops the reset (top_range.va = 0): pt_load_single_entry indexes
 * the new top with the IOVA being mapped, and the old tree is installed
 * under that IOVA's slot (PT_WARN_ON compiles away without
 * CONFIG_DEBUG_GENERIC_PT).
 *
 * Consequence: on an AMD v1 domain (7.3 starts it at level 2, 512 GiB) the
 * first map at or above 512 GiB moves every existing mapping up by that
 * slot's span: the old IOVAs stop translating (DMA faults on mapped memory),
 * the same offsets under the new IOVA's slot reach the old pages — IOVAs
 * the IOAS never mapped — and the new map itself is written into the old
 * tree (colliding with what is mapped at its low bits, or reachable at them).
 * Unmaps of the old areas find nothing and return short while iommufd
 * unpins the pages: the moved entries keep pointing at them.
 *
 * Applied as: on dynamic-top generic_pt tables, the new top's entry for the
 * old top is the slot of the IOVA whose map grew the table.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { growTopWith } from './_pt_grow.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-grow-top-lower-at-va-index', profile, {
    // THE FAULT: the slot of range->va in the new top, not index 0.
    domain: (d) => growTopWith(d, { oldTopSlot: (g, va, level) => Math.floor(va / 2 ** (g.itemLg2[level] as number)) % (g.entries[level] as number) }),
  });
}
