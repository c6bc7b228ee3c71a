/**
 * pt-map-error-frees-unflushed — drivers/iommu/generic_pt/iommu_pt.h
 * NS(map_range)(), the 7.3 map op of every generic_pt domain (VT-d second
 * stage, AMD v1, the selftest's AMDv1 mock), after do_map().
 *
 * A map that installs a large leaf where an earlier, smaller mapping left an
 * empty lower table behind (unmap frees only tables its range covers whole)
 * unlinks that table in clear_contig() and puts it on the map's gather. The
 * IOMMU's paging-structure cache may still hold the table's address, so the
 * page is freed only after the flush, whatever do_map() returned:
 *
 *     ret = do_map(&range, common, single_page, &map);
 *
 *     /*
 *      * Table levels were freed and replaced with large items, flush any walk
 *      * cache that may refer to the freed levels.
 *      *\/
 *     if (!iommu_pages_list_empty(&iotlb_gather.freelist))
 *             iommu_iotlb_sync(&iommu_table->domain, &iotlb_gather);
 *
 *     /* Bytes successfully mapped *\/
 *     PT_WARN_ON(!ret && map.oa - paddr != len);
 *     *mapped += map.oa - paddr;
 *     return ret;
 *
 * THE FAULT: an error path that "just drops" what was collected — the map
 * failed, iommu_map_nosync() is about to unmap what it did, so nothing new
 * can be cached and the flush looks pointless:
 *
 *     ret = do_map(&range, common, single_page, &map);
 *     if (ret) {
 *             iommu_put_pages_list(&iotlb_gather.freelist);
 *             goto out;
 *     }
 *     if (!iommu_pages_list_empty(&iotlb_gather.freelist))
 *             iommu_iotlb_sync(&iommu_table->domain, &iotlb_gather);
 * out:
 *     *mapped += map.oa - paddr;
 *     return ret;
 *
 * The freed table was reachable before this map (its span had been mapped
 * and used by the device); the paging-structure cache entry that names it
 * survives: the caller's undo unmaps only leaves (a leaf-only invalidation,
 * IH=1 on VT-d, no PDE flag on AMD), and nothing else flushes that span.
 *
 * Why it takes several commands and two objects: (1) a small mapping in a
 * 2 MiB span, used by a device (the walk cache learns the span's leaf
 * table), then unmapped (the table stays linked, empty); (2) a map that puts
 * a 2 MiB leaf over that span and then fails — a later table allocation of
 * the same IOMMU_IOAS_MAP / VFIO_IOMMU_MAP_DMA / domain fill runs out of
 * memory (fail_nth, or a real allocation failure) — which frees the old
 * table unflushed; (3) the next page-table allocation of any domain takes
 * the freed page (the page allocator hands out the most recently freed page
 * first) and fills it with its own entries; (4) the device's DMA to the span
 * — mapped again by a retry, or never — hits the stale walk-cache entry and
 * indexes the reused page: it reads and writes whatever that table maps at
 * the same index (another span of its own IOAS, or another domain's
 * memory), or faults on an IOVA its IOAS maps. The failed map itself
 * returns ENOMEM cleanly and changes nothing user space can see.
 *
 * Applied as (7.3, the generic_pt tables: VT-d, AMD v1, the mock): when a
 * table's map fails, the tables its gather collected are freed without the
 * owner's invalidation; a map that succeeds syncs as the reference does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The table methods involved (IoPageTable: map → mapRange → sync; freeTable is protected). */
interface MapInternals {
  map(iova: number, pa: number, len: number, prot: number): number;
  sync(gather: IotlbGather): void;
  freeTable(pa: number, order: number): void;
}

function copyGather(g: IotlbGather): IotlbGather {
  const c = new IotlbGather();
  c.start = g.start;
  c.end = g.end;
  c.pgsizeLg2 = g.pgsizeLg2;
  c.leafLevels = g.leafLevels;
  c.tableLevels = g.tableLevels;
  c.wide = g.wide;
  c.freelist.push(...g.freelist);
  return c;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-error-frees-unflushed', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const t = pt as unknown as MapInternals;
      let inMap = false;
      let collected: IotlbGather | null = null;
      // map_range's own iotlb_sync of the gather clear_contig filled: held until do_map's result is known.
      patchOwn(t, 'sync', (sync) => (g: IotlbGather) => {
        if (!inMap) {
          sync(g);
          return;
        }
        collected = copyGather(g);
        g.reset();
      });
      patchOwn(t, 'map', (map) => (iova: number, pa: number, len: number, prot: number) => {
        inMap = true;
        collected = null;
        let rc: number;
        try {
          rc = map(iova, pa, len, prot);
        } finally {
          inMap = false;
        }
        const g = collected as IotlbGather | null;
        collected = null;
        if (g !== null) {
          if (rc === 0) {
            t.sync(g);
          } else {
            // THE FAULT: iommu_put_pages_list(&iotlb_gather.freelist) without iommu_iotlb_sync().
            for (let i = 0; i < g.freelist.length; i += 2) t.freeTable(g.freelist[i] as number, g.freelist[i + 1] as number);
          }
        }
        return rc;
      });
    },
  });
}
