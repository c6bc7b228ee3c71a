/**
 * copy-fill-list-no-undo (drivers/iommu/iommufd/io_pagetable.c
 * iopt_fill_domains_pages, called by iopt_map_pages for IOMMU_IOAS_COPY).
 *
 * IOMMU_IOAS_COPY builds one pages-list element per source area the copied
 * range crosses (iopt_get_pages) and iopt_map_pages inserts one new area per
 * element, then fills every domain of the destination IOAS element by
 * element. When element N fails to fill (RLIMIT_MEMLOCK, a pin that faults,
 * a domain map that fails…) the elements before it must be unfilled again:
 *
 *     err_undo:
 *             list_for_each_entry(undo_elm, pages_list, next) {
 *                     if (undo_elm == elm)
 *                             break;
 *                     iopt_area_unfill_domains(undo_elm->area, undo_elm->pages);
 *             }
 *             return rc;
 *
 * The fault drops the undo loop ("iopt_free_pages_list will clean up"), so
 * the failing copy returns the error with elements 0..N-1 still mapped into
 * every destination domain and still holding their pins (and the charge),
 * while iopt_free_pages_list aborts their areas: the IOVA range is no area
 * of the IOAS any more (IOAS_UNMAP says ENOENT, a new MAP there passes
 * iopt_check_iova and then fails in the domain) but the IOMMU still
 * translates it. In the kernel the aborted area is also kfree'd while still
 * linked in pages->domains_itree.
 *
 * Consequence: after a COPY that failed part-way (reachable whenever the
 * source range spans two or more areas and a later piece cannot be pinned or
 * charged), a device attached to the destination IOAS can still read and
 * write the source memory of the first piece(s) through IOVAs the IOAS does
 * not map, for as long as the domain lives; those pages stay pinned (and
 * charged to locked_vm / pinned_vm) until the process exits, beyond the
 * destruction of every iommufd object that referred to them.
 *
 * Applied to IOMMU_IOAS_COPY (a MAP has a single element, where the missing
 * undo changes nothing), through a copy of iommufd_ioas_copy (_copy.ts) and
 * of iopt_map_pages / iopt_alloc_area_pages as the reference has them.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';
import { ioptAreaFillDomains } from '../../../impl/iommufd/pages.ts';

/** iopt_map_pages with iopt_fill_domains_pages missing its err_undo. */
const mapPagesNoUndo = mapPagesWith({
  fillDomains: (iopt, list) => {
    for (const elm of list) {
      const rc = ioptAreaFillDomains(iopt, elm.area!, elm.pages!);
      // THE FAULT: the elements already filled are not unfilled (no err_undo).
      if (rc) return rc;
    }
    return 0;
  },
});

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-fill-list-no-undo', profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages: mapPagesNoUndo }) },
  });
}
