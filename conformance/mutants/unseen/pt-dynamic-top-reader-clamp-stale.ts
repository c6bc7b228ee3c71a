/**
 * pt-dynamic-top-reader-clamp-stale (drivers/iommu/generic_pt/pt_iter.h
 * _pt_top_range, as NS(unmap_range) and NS(iova_to_phys) in iommu_pt.h
 * build their range with make_range → pt_make_range → pt_top_range).
 *
 * With PT_FEAT_DYNAMIC_TOP (AMD v1) the table starts with a few levels and
 * increase_top() adds levels on top when a map needs a wider IOVA. Every
 * reader derives the VA width it may walk from the level encoded in
 * top_of_table at that moment:
 *     max_vasz_lg2 = common->max_vasz_lg2;
 *     if (pt_feature(common, PT_FEAT_DYNAMIC_TOP) &&
 *         pts.level != PT_MAX_TOP_LEVEL)
 *             max_vasz_lg2 = min_t(unsigned int, common->max_vasz_lg2,
 *                                  pt_num_items_lg2(&pts) +
 *                                  pt_table_item_lg2sz(&pts));
 * and pt_check_range() then refuses (-ERANGE) an IOVA beyond it. The fault
 * computes that clamp from the starting level recorded when the table was
 * initialised (the level pt_iommu_init set) instead of the level of the
 * current top, so only the map path — increase_top and its own checks —
 * knows the table grew. The walk itself still starts at the real top.
 *
 * Consequence (amd0, 3 starting levels = 512 GiB): once a map at an IOVA at
 * or above 2^39 has grown the table, the device translates it (the DTE was
 * updated by change_top), but unmap_range answers 0 for every range beyond
 * the starting width and iova_to_phys finds nothing there. IOMMU_IOAS_UNMAP
 * of such an area (or the IOAS's or HWPT's teardown) leaves its leaves in
 * the table — iommu_unmap_nofail only WARNs — while iommufd unpins and
 * uncharges the pages: the device keeps reading and writing pages the
 * process no longer has pinned, possibly freed and reused. A later map of
 * the same IOVA hits the stale leaves (-EADDRINUSE).
 *
 * Applied as: on every generic_pt AMD v1 paging domain with a dynamic top,
 * the readers' IOVA limits stay those of the starting top level.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

type Limits = { setNumberLimits(): void };

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-dynamic-top-reader-clamp-stale', profile, {
    domain: (d) => {
      if (d.owner.name !== 'amd') return;
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt' || !pt.g.dynamicTop) return;
      // THE FAULT: the readers' VA clamp keeps the starting level's width (set at init).
      patchOwn(pt as unknown as Limits, 'setNumberLimits', () => () => {});
    },
  });
}
