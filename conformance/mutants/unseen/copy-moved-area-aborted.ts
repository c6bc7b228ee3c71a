/**
 * copy-moved-area-aborted (drivers/iommu/iommufd/io_pagetable.c
 * iopt_map_pages, reached through iommufd_ioas_copy for IOMMU_IOAS_COPY;
 * 6.12 and 7.3).
 *
 * iopt_map_pages builds one area per element of the pages list, fills the
 * IOAS's domains and, once everything worked, hands each element's pages
 * reference over to its area and unlinks the element from both:
 *
 *     down_write(&iopt->iova_rwsem);
 *     list_for_each_entry(elm, pages_list, next) {
 *             /*
 *              * area->pages must be set inside the domains_rwsem to ensure
 *              * any newly added domains will get filled. Moves the reference
 *              * in from the list.
 *              *\/
 *             elm->area->pages = elm->pages;
 *             elm->pages = NULL;
 *             elm->area = NULL;
 *     }
 *     up_write(&iopt->iova_rwsem);
 *
 * The list stays the caller's. iommufd_ioas_copy always ends with
 * iopt_free_pages_list(&pages_list), which aborts every area still linked
 * from an element (iopt_abort_area: interval_tree_remove from area_itree,
 * kfree) and puts every pages reference still held there — on the error
 * path that undoes a half-built copy, on the success path it only frees the
 * list elements, because the loop above cleared both pointers.
 *
 * THE FAULT drops the `elm->area = NULL;` line (the pages reference moved,
 * so the element "no longer owns anything" — but the area pointer still
 * reads as an unfinished area). IOMMU_IOAS_MAP is not affected (6.12's
 * iopt_map_user_pages and 7.3's iopt_map_common look at their element only
 * when iopt_map_pages failed); IOMMU_IOAS_COPY is: it succeeds and answers
 * its dst_iova, then iopt_free_pages_list takes every new area out of the
 * destination's area tree and frees it. Nothing unfills it: the destination
 * domains keep the copy's translations and the pages stay pinned (the
 * area's pages reference is never put), but the IOAS no longer knows the
 * range. A later IOMMU_IOAS_UNMAP of the copy answers ENOENT, an unmap-all
 * or the IOAS's destruction skip it, the device keeps DMA access to the
 * source memory for as long as the domain lives, and the range reads as free
 * IOVA again (a new map there reaches the domain's stale PTEs).
 *
 * Applied as: IOMMU_IOAS_COPY runs the shared copy of iommufd_ioas_copy
 * (_copy.ts) whose iopt_map_pages is the reference's followed by the lost
 * unlink: each element is linked again to the area it built, so the
 * copy's iopt_free_pages_list aborts them as the kernel's would.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import type { IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { copyHandler } from './_copy.ts';

/** iopt_map_pages whose hand-over loop leaves elm->area set. */
const mapPagesKeepingArea: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
  const before = new Set<IoptArea>(iopt.areas);
  const rc = ioptMapPages(iopt, list, length, dstIova, prot, flags);
  if (rc) return rc;
  // The areas iopt_alloc_area_pages inserted, one per element, in list (= IOVA) order.
  const built = iopt.areas.filter((a) => !before.has(a)).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  // THE FAULT: `elm->area = NULL;` is missing from the hand-over loop.
  list.forEach((elm, i) => {
    elm.area = built[i] ?? null;
  });
  return 0;
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-moved-area-aborted', profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages: mapPagesKeepingArea }) },
  });
}
