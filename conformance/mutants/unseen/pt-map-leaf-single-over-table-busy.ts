/**
 * pt-map-leaf-single-over-table-busy — drivers/iommu/generic_pt/iommu_pt.h
 * __map_range_leaf() (7.3 only: the generic_pt tables of the VT-d second
 * stage, AMD v1 and the selftest's AMDv1 mock; SMMUv3 keeps io-pgtable-arm).
 *
 * __map_range_leaf writes a run of leaves of one page size into the table of
 * their level. A slot that is not empty — or any slot when the leaf is a
 * contiguous run of several items — goes through clear_contig(), which
 * accepts only tables holding no leaf at all, unlinks them and frees them
 * through the gather (the map ends with an IOTLB sync for them):
 *
 *     do {
 *             pts.type = pt_load_entry_raw(&pts);
 *             if (pts.type != PT_ENTRY_EMPTY || need_contig) {
 *                     if (pts.index != start_index)
 *                             pt_index_to_va(&pts);
 *                     ret = clear_contig(&pts, map->iotlb_gather, step,
 *                                        leaf_pgsize_lg2);
 *                     if (ret)
 *                             break;
 *             }
 *             ...
 *             pt_install_leaf_entry(&pts, oa, leaf_pgsize_lg2, &map->attrs);
 *
 * THE FAULT: clear_contig() kept for the contiguous case only; a single-item
 * leaf over any non-empty slot is refused on the spot, as a leaf over a leaf
 * is:
 *
 *             if (need_contig) {
 *                     ret = clear_contig(&pts, map->iotlb_gather, step,
 *                                        leaf_pgsize_lg2);
 *                     if (ret)
 *                             break;
 *             } else if (pts.type != PT_ENTRY_EMPTY) {
 *                     ret = -EADDRINUSE;
 *                     break;
 *             }
 *
 * (the "one item, so it must be a leaf" shortcut: it forgets that a slot can
 * hold an empty lower table).
 *
 * Why it needs several commands: generic_pt frees a lower table only when an
 * unmap covers its whole span. A small area mapped and unmapped inside a
 * 2 MiB region (1 MiB on the AMDv1 mock) leaves its empty 4 KiB-leaf table
 * linked in the level-1 slot. Nothing changes for the small area itself. Much
 * later a map that puts a 2 MiB leaf there (a 2 MiB-aligned IOVA backed by a
 * physically contiguous, aligned 2 MiB — a THP, a hugeAligned buffer) finds
 * the table and fails: IOMMU_IOAS_MAP, IOMMU_IOAS_COPY, VFIO_IOMMU_MAP_DMA
 * answer EADDRINUSE for a free, allowed, aligned range (iommu_map unwinds
 * what the call mapped before, iommufd unpins), and a device attached later
 * to the IOAS with its own new domain would have filled the same range fine.
 * Whether a map works depends on the unmap history of one domain of the IOAS;
 * the empty table stays until the domain is freed.
 *
 * Applied as (7.3, every generic_pt paging domain): while __map_range_leaf
 * writes single-item leaves, a slot holding a table is refused with
 * -EADDRINUSE instead of being cleared; contiguous runs (AMD v1 4 MiB,
 * the mock's 2 MiB) still go through clear_contig.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IoPageTable internals __map_range_leaf is made of (private in the reference). */
interface LeafWriter {
  fillLeaves(table: number, level: number, idx: number, n: number, runLg2: number, oa: number, lg2: number, gather: IotlbGather): number;
  clearSlotForLeaf(w: number, level: number, gather: IotlbGather): boolean;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-leaf-single-over-table-busy', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const lw = pt as unknown as LeafWriter;
      /** need_contig of the run __map_range_leaf is writing (false: one item per leaf). */
      let needContig = true;
      patchOwn(lw, 'fillLeaves', (fill) => (table, level, idx, n, runLg2, oa, lg2, gather) => {
        const outer = needContig;
        needContig = runLg2 !== 0;
        try {
          return fill(table, level, idx, n, runLg2, oa, lg2, gather);
        } finally {
          needContig = outer;
        }
      });
      patchOwn(lw, 'clearSlotForLeaf', (clear) => (w, level, gather) => {
        // THE FAULT: a non-empty slot under a single-item leaf is -EADDRINUSE, table or not.
        if (!needContig) return false;
        return clear(w, level, gather);
      });
    },
  });
}
