/**
 * pt-map-success-frees-unflushed — drivers/iommu/generic_pt/iommu_pt.h
 * NS(map_range)() (7.3, every generic_pt domain: VT-d second stage, AMD v1,
 * the selftest's AMDv1 mock), the tail after do_map() of a map that
 * succeeded.
 *
 * The kernel's code:
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
 * THE FAULT: the levels are released with iommu_put_pages_list() instead of
 * the sync: the gather has no range (nothing was unmapped), so the flush
 * looked like it had nothing to invalidate:
 *
 *     if (!iommu_pages_list_empty(&iotlb_gather.freelist))
 *             iommu_put_pages_list(&iotlb_gather.freelist);
 *
 * What goes wrong: a large leaf (2M on VT-d/AMD) that a map installs over a
 * span whose lower table was left empty by an earlier unmap (unmap frees
 * only tables it covers whole) unlinks and frees that table without
 * invalidating the paging-structure cache. If a device walked through that
 * table before, the walk cache still points at the freed page; DMA into the
 * newly mapped span uses the stale entry and indexes the freed (zeroed or
 * reused) page: it faults on IOVA the IOAS maps, or reaches whatever the
 * page's new owner maps at that index.
 *
 * Applied as (7.3 only): a table's sync of its own map-time gather (the
 * scratch gather map_range uses) frees the collected tables without the
 * owner's invalidation; unmap syncs (Domain's gather) are untouched.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

interface SyncInternals {
  sync(gather: IotlbGather): void;
  freeTable(pa: number, order: number): void;
  readonly scratch: IotlbGather;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-success-frees-unflushed', profile, {
    domain(d, env) {
      if (env.profile !== '7.3') return;
      const pt = d.hw?.pt as unknown as SyncInternals | undefined | null;
      if (!pt) return;
      patchOwn(pt, 'sync', (orig) => (gather: IotlbGather) => {
        if (gather !== pt.scratch || gather.freelist.length === 0 || !gather.empty) return orig(gather);
        const fl = gather.freelist;
        for (let i = 0; i < fl.length; i += 2) pt.freeTable(fl[i] as number, fl[i + 1] as number);
        gather.reset();
      });
    },
  });
}
