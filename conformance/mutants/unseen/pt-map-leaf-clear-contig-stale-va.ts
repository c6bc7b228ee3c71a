/**
 * pt-map-leaf-clear-contig-stale-va — drivers/iommu/generic_pt/iommu_pt.h
 * __map_range_leaf() / clear_contig().
 *
 * When a map installs large leaves over slots that still hold (empty) lower
 * tables — left behind by earlier small mappings that were unmapped again:
 * unmap_range only frees a table the unmap range fully covers — the tables
 * are unlinked and freed through the iotlb gather, and map_pages() syncs the
 * gather ("Table levels were freed and replaced with large items, flush any
 * walk cache that may refer to the freed levels"). The gather range of each
 * freed table comes from the range's current VA:
 *
 *     do {
 *             pts.type = pt_load_entry_raw(&pts);
 *             if (pts.type != PT_ENTRY_EMPTY || need_contig) {
 *                     if (pts.index != start_index)
 *                             pt_index_to_va(&pts);
 *                     ret = clear_contig(&pts, map->iotlb_gather, step, leaf_pgsize_lg2);
 *             ...
 *             pts.index += step;
 *     } while (pts.index < pts.end_index);
 *
 * and clear_contig() gathers `range.va` for the table it frees:
 *     gather_range_pages(iotlb_gather, iommu_table, range.va,
 *                        log2_to_int(pt_table_item_lg2sz(&pts)), &collect.free_list);
 *
 * THE FAULT: the pt_index_to_va() before clear_contig() is lost (it looks like
 * a redundant recomputation: range->va is valid for the first entry). For
 * every leaf but the first one of the run, range->va still holds the VA the
 * run started at, so the table freed under a later slot is gathered — and
 * flushed, IH=0 on VT-d / PDE=1 on AMD — for the first slot's range instead
 * of its own.
 *
 * Consequence: the IOMMU's paging-structure (walk) cache keeps the pointer
 * it cached for the later slot to the lower table that was just freed. A
 * device that used an IOVA under that slot before (its leaf was unmapped, the
 * leaf-only flush of that unmap rightly kept the walk-cache entry because the
 * table stayed linked) and that now accesses the same 2 MiB region — mapped
 * by the new large leaf — misses the IOTLB, hits the walk cache and walks the
 * freed page: a translation fault where the IOAS maps the IOVA, or, once the
 * page is handed out again (another domain's table, another buffer's frame),
 * whatever that page holds: another IOAS's pages or attacker-written PTEs.
 * Reached by: map 4 KiB at IOVA Y (2 MiB region R), DMA at Y, unmap it; map
 * an area of two or more 2 MiB leaves whose first leaf is the region before
 * R; DMA anywhere in R.
 *
 * Only VT-d is exposed: its leaf-only unmap flush (PSI with IH=1) keeps the
 * walk-cache entry of a table that stays linked, while AMD sets PDE on every
 * INVALIDATE_IOMMU_PAGES, so by the time the table is replaced nothing caches
 * it any more.
 *
 * Applied as: on every generic_pt table (7.3: VT-d second stage, AMD v1;
 * the mock has no caches) a freed table's gather range is that of the run's
 * first slot when the freed table sits under a later leaf of the run, and
 * its own slot's range otherwise (as the kernel gathers it).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The private steps of IoPageTable.mapRange this fault wraps. */
interface MapSteps {
  descendForMap(va: number, level: number): number;
  fillLeaves(table: number, level: number, idx: number, n: number, runLg2: number, oa: number, lg2: number, gather: IotlbGather): number;
  clearSlotForLeaf(w: number, level: number, gather: IotlbGather): boolean;
  readonly itemSize: Float64Array;
}

function patchTable(pt: IoPageTable): void {
  const t = pt as unknown as MapSteps;
  /** The current __map_range_leaf run: range->va at its start, its first entry's word, entries per leaf. */
  const run = { va: 0, firstW: 0, rep: 1 };
  patchOwn(t, 'descendForMap', (descend) => (va, level) => {
    run.va = va;
    return descend(va, level);
  });
  patchOwn(t, 'fillLeaves', (fill) => (table, level, idx, n, runLg2, oa, lg2, gather) => {
    run.firstW = (table >>> 2) + 2 * idx;
    run.rep = 2 ** runLg2;
    return fill(table, level, idx, n, runLg2, oa, lg2, gather);
  });
  patchOwn(t, 'clearSlotForLeaf', (clear) => (w, level, gather) => {
    const cleared = clear(w, level, gather);
    if (cleared) {
      const item = t.itemSize[level] as number;
      const k = (w - run.firstW) / 2;
      // First leaf of the run: range->va is right (the kernel's gather). Later leaves: THE FAULT, the run's start.
      const va = k < run.rep ? run.va + k * item : run.va;
      gather.addRange(va, item);
    }
    return cleared;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-leaf-clear-contig-stale-va', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt && pt.g.driver === 'generic_pt') patchTable(pt);
    },
  });
}
