/**
 * pt-map-single-page-before-range-check — drivers/iommu/generic_pt/iommu_pt.h
 * NS(map_range)() (7.3: the map op of every generic_pt paging domain; what
 * it breaks is visible on the AMD v1 domains of amd0, whose table has a
 * dynamic top).
 *
 * map_range builds its range without checking it against the table
 * (make_range_no_check), because for a PT_FEAT_DYNAMIC_TOP table the range
 * may lie above what the current top level spans: check_map_range() first
 * checks it and, for a dynamic top, grows the table (increase_top, which
 * also rewrites the DTE through change_top) until it fits. Only then does
 * do_map() walk it, trying the one-page fast path (__map_single_page) first:
 *
 *     ret = check_map_range(iommu_table, &range, &map);
 *     if (ret)
 *             return ret;
 *
 *     PT_WARN_ON(map.leaf_level > range.top_level);
 *
 *     ret = do_map(&range, common, single_page, &map);
 *
 * THE FAULT: the fast path is hoisted in front of the range check — "a
 * single page almost always lands in tables that already exist, do not pay
 * for check_map_range() and the top lock first":
 *
 *     if (single_page && !pt_feature(common, PT_FEAT_DMA_INCOHERENT)) {
 *             ret = pt_walk_range(&range, __map_single_page, &map);
 *             if (ret != -EAGAIN)
 *                     goto out;
 *     }
 *
 *     ret = check_map_range(iommu_table, &range, &map);
 *     ...
 *
 * pt_walk_range() requires a checked range ("The caller should have done a
 * validity check, at least calling pt_check_range()"): at the top level
 * pt_range_to_index() takes the IOVA modulo the width the current top
 * spans. A one-page map at an IOVA above that width (amd0 starts with three
 * levels: 512 GiB) whose aliased walk — the same IOVA with the bits above
 * 2^39 dropped — finds its tables present is installed at the alias: the
 * table is not grown, nothing is flushed, and map_range reports success. If
 * the alias's leaf slot is taken, the map fails -EADDRINUSE although the
 * IOVA is free. Only when a table on the alias's path is missing does the
 * walk give up (-EAGAIN) and the checked path map the page where it
 * belongs.
 *
 * Consequence, over several commands and two areas: once an area exists in
 * the low 512 GiB of an amd0 domain, a later one-page IOMMU_IOAS_MAP (or
 * IOMMU_IOAS_COPY, VFIO_IOMMU_MAP_DMA, or a domain fill) at the same offset
 * above 512 GiB
 *   - makes the page reachable by the device at the low alias IOVA, which
 *     the IOAS does not map (or maps to something else later: that map
 *     then fails -EADDRINUSE), while the IOVA the IOAS does map faults;
 *   - leaves a leaf behind at the alias that IOMMU_IOAS_UNMAP of the high
 *     area cannot find (unmap_range answers 0 there, iommu_unmap_nofail only
 *     WARNs) while iommufd unpins the page: the device keeps DMA access to
 *     a page nobody has pinned any more.
 *
 * Shows only over several commands: the first map in a 512 GiB window
 * (nothing on the alias's path yet) takes the checked path and grows the
 * table correctly; it takes an earlier area in the low window to make a
 * later high map go astray.
 *
 * Applied as: on every generic_pt paging domain, a map of exactly one 4 KiB
 * page (the fast path's case) first tries the single-page walk at the
 * current top without checking or growing the range; the reference's
 * map_range (check, increase_top, full walk) runs only when that walk meets
 * a missing table.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mapRangePatched } from './_pt_map.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-single-page-before-range-check', profile, {
    // THE FAULT: __map_single_page walks the unchecked range at the current top.
    domain: (d) => mapRangePatched(d, { singlePageFirst: true }),
  });
}
