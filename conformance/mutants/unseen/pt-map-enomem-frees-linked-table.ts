/**
 * pt-map-enomem-frees-linked-table — drivers/iommu/generic_pt/iommu_pt.h
 * __map_range() (7.3), the descent of every map_range of a generic_pt domain
 * (VT-d second stage, AMD v1, the AMDv1 selftest mock) that needs new
 * tables: IOMMU_IOAS_MAP / _COPY, VFIO_IOMMU_MAP_DMA, the fill of a domain
 * joining an IOAS.
 *
 * On the way down __map_range() installs an empty table wherever the range
 * meets an empty entry, and descends into it:
 *
 *     if (pts.type != PT_ENTRY_TABLE) {
 *             if (pts.type != PT_ENTRY_EMPTY)
 *                     return -EADDRINUSE;
 *             ret = pt_iommu_new_table(&pts, &map->attrs);
 *             if (ret)
 *                     return ret;
 *     } else { ... }
 *     do {
 *             if (map->leaf_level == level - 1)
 *                     ret = pt_descend(&pts, arg, __map_range_leaf);
 *             else
 *                     ret = pt_descend(&pts, arg, __map_range);
 *     } while (ret == -EAGAIN);
 *     if (ret)
 *             return ret;
 *
 * If a table further down cannot be allocated (-ENOMEM), the tables
 * installed on the way stay in place, empty; they are freed with the domain
 * or by a later unmap/clear_contig, the same as every empty table.
 *
 * THE FAULT: a "don't leak the tables of a failed map" cleanup. A frame that
 * installed a new table and whose descent failed frees it again — without
 * clearing the entry it installed (pt_clear_entries(&pts, ilog2(1)) and the
 * flush of that item are missing):
 *
 *             ret = pt_iommu_new_table(&pts, &map->attrs);
 *             if (ret)
 *                     return ret;
 *             new_table = true;
 *     ...
 *     if (ret) {
 *             if (new_table)
 *                     iommu_free_pages(pts.table_lower);
 *             return ret;
 *     }
 *
 * Every frame of the failing descent does it, the innermost first, so the
 * entry of the last existing table keeps pointing at a freed page, which
 * points at nothing (iommu pages are handed out zeroed) — for now.
 *
 * Why it shows only later, through another object: right after the failed
 * IOMMU_IOAS_MAP everything answers correctly: ENOMEM, nothing pinned, the
 * failed range translates to nothing (the freed page is zero). The freed
 * page is the next one the page allocator hands out: the next page table any
 * domain allocates — typically the root of the next domain created (a device
 * attached to another IOAS, another iommufd), or a table of the next map in
 * a fresh region — or a page of the next buffer the process maps. From then
 * on the first domain walks that page as its own table: a device of the
 * first IOAS reaches the other domain's tables and, through them, the other
 * IOAS's pages (or the process's own buffer bytes are taken for page-table
 * entries), at IOVAs its IOAS never mapped; and its later maps and unmaps in
 * that range write into the other domain's table. Destroying the first
 * domain frees the page a second time.
 *
 * Applied as (7.3 generic_pt tables): when the descent of a map fails, the
 * tables it allocated are freed again, innermost first, and the entries
 * pointing to them are left as they are.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The parts of IoPageTable (impl/pagetable/table.ts) the fault reaches. */
interface Descent {
  allocTable(level: number): number;
  freeTable(pa: number, order: number): void;
  descendForMap(va: number, level: number): number;
  readonly tableOrder: number[];
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-enomem-frees-linked-table', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const t = pt as unknown as Descent;
      /** Tables installed by the descent in progress (level, pa), outermost first. */
      let installed: { level: number; pa: number }[] | null = null;
      patchOwn(t, 'allocTable', (allocTable) => (level: number) => {
        const pa = allocTable(level);
        if (pa !== 0 && installed !== null) installed.push({ level, pa });
        return pa;
      });
      patchOwn(t, 'descendForMap', (descend) => (va: number, level: number) => {
        const mine: { level: number; pa: number }[] = [];
        installed = mine;
        let rc: number;
        try {
          rc = descend(va, level);
        } finally {
          installed = null;
        }
        if (rc < 0) {
          // THE FAULT: each frame frees the table it installed (innermost first); the entry stays.
          for (let i = mine.length - 1; i >= 0; i--) {
            const { level: l, pa } = mine[i] as { level: number; pa: number };
            t.freeTable(pa, t.tableOrder[l] as number);
          }
        }
        return rc;
      });
    },
  });
}
