/**
 * reader-repins-access-span (drivers/iommu/iommufd/pages.c pfn_reader_fill_span,
 * reached from iopt_area_fill_domain — a domain attached to an IOAS that has
 * maps — and iopt_area_fill_domains — IOMMU_IOAS_COPY of pages an in-kernel
 * access already holds into an IOAS with a domain).
 *
 * The pfn reader takes each span of the area's pages from the cheapest tier
 * that already holds it: the access xarray, then a domain, then the mm. The
 * span iterator runs over (access_itree, domains_itree) and the kernel's
 * pfn_reader_fill_span has one branch per tier:
 *
 *     if (span->is_used == 1) {
 *             batch_from_xarray(&pfns->batch, &pfns->pages->pinned_pfns,
 *                               start_index, span->last_used);
 *             return 0;
 *     }
 *
 *     if (span->is_used == 2) {
 *             ...
 *             batch_from_domain(&pfns->batch, area->storage_domain, area, ...);
 *             return 0;
 *     }
 *
 *     if (start_index >= pfns->user.upages_end) {
 *             rc = pfn_reader_user_pin(&pfns->user, pfns->pages, start_index,
 *                                      span->last_hole);
 *
 * The fault: the `is_used == 1` branch is lost (the xarray tier "is only a
 * cache of what the domains hold"), so a span held by an in-kernel access
 * falls through to the mm path and is pinned a second time for the domain
 * (iopt_pages_add_npinned, charged by pfn_reader_update_pinned). Nothing ever
 * takes that second pin back: every unpinner (__iopt_area_unfill_domain,
 * iopt_pages_unfill_xarray, pfn_reader_unpin) skips a span still covered by
 * the other tree and unpins a hole once, so the page keeps one pin — and its
 * locked_vm/pinned_vm charge — for ever (iopt_release_pages then WARNs on
 * npinned). A span held by an access *and* a domain is reported as is_used == 1
 * too (the first tree wins), so every domain filled over an access leaks
 * again.
 *
 * Observable only through two objects: an access (IOMMU_TEST_OP_ACCESS_PAGES)
 * holding pages, then a domain filled over them (a device attached to the
 * IOAS, a HWPT allocated on it, or an IOAS_COPY of the accessed range into an
 * IOAS with a device). pin_count shows the page pinned twice, and after
 * everything is unpinned, unmapped and closed the page stays pinned and
 * pinned_vm (and the user's locked_vm) never return to where they started.
 *
 * Applied through _reader_repin.ts (where the model fills domains).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { accessCount, readerRepinAdapter } from './_reader_repin.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: a span an access holds (is_used == 1) is pinned again from the mm.
  return readerRepinAdapter('reader-repins-access-span', profile, (pages, i) => pages.pinned.has(i) && accessCount(pages, i) > 0);
}
