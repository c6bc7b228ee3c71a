/**
 * reader-repins-domain-span (drivers/iommu/iommufd/pages.c pfn_reader_fill_span,
 * reached from iopt_area_fill_domain — a second domain added to an IOAS with
 * maps, or a first one over pages another IOAS's domain holds — and
 * iopt_area_fill_domains — IOMMU_IOAS_COPY into an IOAS with a domain of
 * pages a domain already holds).
 *
 * The pfn reader takes each span of an area's pages from the tier that
 * already holds it: the access xarray, then a domain, then the mm. For a span
 * a domain holds it reads the PFNs back out of that area's storage domain and
 * pins nothing:
 *
 *     if (span->is_used == 2) {
 *             /*
 *              * Pull as many pages from the first domain we find in the
 *              * target span. If it is too small then we will be called again
 *              * and we'll find another area.
 *              *\/
 *             area = iopt_pages_find_domain_area(pfns->pages, start_index);
 *             if (WARN_ON(!area))
 *                     return -EINVAL;
 *
 *             /* The storage_domain cannot change without the pages mutex *\/
 *             batch_from_domain(
 *                     &pfns->batch, area->storage_domain, area, start_index,
 *                     min(iopt_area_last_index(area), span->last_used));
 *             return 0;
 *     }
 *
 *     if (start_index >= pfns->user.upages_end) {
 *             rc = pfn_reader_user_pin(&pfns->user, pfns->pages, start_index,
 *                                      span->last_hole);
 *
 * The fault: the `is_used == 2` branch is lost ("reading PFNs back out of an
 * IOMMU page table is slow; GUP is fast"), so a span held only by a domain
 * falls through to the mm path and is pinned again (iopt_pages_add_npinned,
 * charged by pfn_reader_update_pinned). That pin is never given back: the
 * unpinners (__iopt_area_unfill_domain, iopt_pages_unfill_xarray,
 * pfn_reader_unpin) skip a span another area still covers and unpin a hole
 * once, so each such read leaves the page pinned, and charged to
 * locked_vm/pinned_vm, for ever (iopt_release_pages WARNs on npinned).
 *
 * Only a second object shows it: the domain that already holds the pages is
 * another HWPT on the same IOAS (every page of every area is read from the
 * storage domain when a second domain is filled), or the source of an
 * IOAS_COPY into an IOAS with a device. A single domain per IOAS and copies
 * into IOASes without domains behave. Spans an access holds are still read
 * from the xarray (the first tree wins).
 *
 * Applied through _reader_repin.ts (where the model fills domains).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { accessCount, readerRepinAdapter } from './_reader_repin.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: a span only a domain holds (is_used == 2: holds beyond the accesses' are the
  // filled areas', `own` of them the area's being read) is pinned again from the mm.
  return readerRepinAdapter('reader-repins-domain-span', profile, (pages, i, own) => {
    const cur = pages.pinned.get(i);
    return !!cur && accessCount(pages, i) === 0 && cur.holders - own > 0;
  });
}
