/**
 * unfill-unmapped-end-starts-at-zero (drivers/iommu/iommufd/pages.c
 * __iopt_area_unfill_domain, reached from iopt_area_unfill_domains when an
 * area is torn down: IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA; and from
 * iopt_area_fill_domains' out_unmap through iopt_area_unfill_partial_domain;
 * 6.12 and 7.3).
 *
 * An area is unmapped from its storage domain and unpinned by walking its
 * page indexes in the iopt_pages: holes (nobody else holds them) are read
 * back from the domain, unmapped and unpinned; spans other areas or accesses
 * hold are only unmapped. The walk remembers how far the domain has been
 * unmapped in a page index of the iopt_pages, starting at the area's own
 * first index:
 *
 *     unsigned long start_index = iopt_area_index(area);
 *     unsigned long unmapped_end_index = start_index;
 *     ...
 *     interval_tree_for_each_double_span(&span, ...) {
 *             ...
 *             iopt_area_unpin_domain(&batch, area, pages, domain,
 *                                    span.start_hole, span.last_hole,
 *                                    &unmapped_end_index, last_index);
 *     }
 *     if (unmapped_end_index != last_index + 1)
 *             iopt_area_unmap_domain_range(area, domain, unmapped_end_index,
 *                                          last_index);
 *
 * and iopt_area_unpin_domain unmaps from there:
 *
 *     iopt_area_unmap_domain_range(area, domain, *unmapped_end_index,
 *                                  start_index + batch->total_pfns - 1);
 *
 * THE FAULT initialises the cursor as "nothing unmapped yet", an index
 * relative to the area instead of the pages:
 *
 *     unsigned long unmapped_end_index = 0;
 *
 * The PFNs are still read from the right index (start = max(start_index,
 * *unmapped_end_index)), and every later unmap continues correctly from the
 * end of the first; but the first unmap of the storage domain starts at
 * iopt_area_index_to_iova(area, 0), i.e. iopt_area_iova(area) -
 * iopt_area_start_byte(area, iopt_area_iova(area)) — as many pages below the
 * area's IOVA as the area starts into its iopt_pages (the function only WARNs
 * under CONFIG_IOMMUFD_TEST about an index below the area).
 *
 * Why it takes several commands and two objects: an IOMMU_IOAS_MAP area
 * starts in the first page of its own iopt_pages (index 0), where the two
 * cursors agree, so maps and unmaps alone never show it. The areas that
 * start further in are the ones made from another area: IOMMU_IOAS_COPY of a
 * range that does not begin at the source area's first page (in another IOAS
 * or the same one), and the pieces a VFIO type1 v1 partial unmap cuts off
 * (iopt_area_split's rhs). Only when such an area is unmapped does the first
 * iommu_unmap() of its storage domain start below it, and what that does
 * depends on what lies there:
 *   - nothing mapped there (the usual case): the unmap stops at the first
 *     IOVA that is not mapped (7.3's generic_pt unmap_range; in 6.12 the
 *     iommu core's loop over AMD v1 and Arm io-pgtable, while 6.12 VT-d's
 *     domain_unmap clears the whole range and only the next case remains),
 *     so the area's own IOPTEs stay in the domain while its pages are
 *     unpinned — IOMMU_IOAS_UNMAP
 *     reports the area gone, yet every device attached to the storage domain
 *     still translates it, to pages iommufd no longer holds once the last
 *     other user of them (the source area) is unmapped: a use after free of
 *     user memory by DMA, and a later map of the same IOVA fails with EEXIST;
 *   - another area mapped right below (within those pages): its IOPTEs go
 *     too, while it is still in the IOAS and pinned (its devices fault on a
 *     live mapping) — and when it is unmapped in turn its own unmap stops at
 *     the hole that left;
 *   - an area starting further into its pages than its IOVA (a copy placed
 *     low): the start wraps below 0, beyond every table, and nothing is
 *     unmapped.
 * Other domains of the IOAS are unmapped from the area's own first index
 * (iopt_area_unfill_domains calls iopt_area_unmap_domain_range with
 * iopt_area_index(area)) and are right.
 *
 * Applied as: IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA tear areas down through
 * a copy of the reference's unmap walk (_unmap.ts) whose unfill unmaps the
 * non-storage domains as the reference does and the storage domain (index 0
 * of the domains xarray: the IOAS's domains are kept in the xarray's order,
 * the tail moving into a removed domain's slot) with one iommu_unmap from the
 * faulty start to the area's last IOVA, before the unpin; IOMMU_IOAS_COPY
 * fills through a copy of iopt_area_fill_domains whose out_unmap unfills the
 * last domain the same way. An area of several hole and held spans is
 * unmapped by the kernel in several calls, of which only the first starts
 * wrong; the model issues the one call. A start below 0 unmaps nothing (the
 * 6.12 selftest mock's xarray would wrap to 0 and erase upwards: not
 * modelled).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { PAGE_SIZE, type IommufdIoas, type IoPagetable, type IoptArea, type IoptDomain, type IoptPages, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { areaMapDomain, ioptAreaFillDomains, ioptAreaUnmapDomain, ioptPagesCharge, ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';
import { unmapHandler, unmapRange, vfioUnmapDmaWith, type Unfill } from './_unmap.ts';

const P = BigInt(PAGE_SIZE);

/**
 * The first iopt_area_unmap_domain_range of __iopt_area_unfill_domain, from
 * the faulty cursor (page index 0 of the iopt_pages) to the area's last IOVA.
 */
function storageUnmap(area: IoptArea, domain: IoptDomain): void {
  if (area.firstIndex === 0) {
    // Index 0 is the area's own first index: iopt_area_index_to_iova gives iopt_area_iova(area).
    ioptAreaUnmapDomain(area, domain);
    return;
  }
  // iopt_area_index_to_iova(area, 0): iopt_area_iova(area) - page_offset + (0 - iopt_area_index(area)) * PAGE_SIZE.
  const start = area.start - BigInt(area.pageOffset) - BigInt(area.firstIndex) * P;
  if (start < 0n) return; // wrapped below 0: beyond every table, nothing unmapped
  domain.unmap(start, Number(area.last - start + 1n));
}

/** iopt_area_unfill_domains: the other domains from the area's own index, then the storage domain (xa_load(domains, 0)) and the unpin. */
const unfill: Unfill = (iopt, area, pages) => {
  if (!area.filled) return;
  const storage = iopt.domains[0];
  for (const domain of iopt.domains) if (domain !== storage) ioptAreaUnmapDomain(area, domain);
  if (storage) storageUnmap(area, storage);
  ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
  area.filled = false;
};

/**
 * iopt_area_fill_domains: when the pin cannot be charged after every domain
 * was filled, out_unmap unmaps each domain from the area's index, and the
 * last one (next_domain_id - 1) through iopt_area_unfill_partial_domain, i.e.
 * __iopt_area_unfill_domain with the faulty cursor.
 */
const areaFillDomains: typeof ioptAreaFillDomains = (iopt: IoPagetable, area: IoptArea, pages: IoptPages) => {
  if (iopt.domains.length === 0) return 0;
  const held = ioptPagesHold(pages, area.firstIndex, area.lastIndex, 'later');
  if (held.errno) return held.errno;
  const unwind = new Unwind();
  unwind.onError('out_unpin', () => ioptPagesRelease(pages, area.firstIndex, area.lastIndex));
  const lastDomain = iopt.domains[iopt.domains.length - 1];
  for (const domain of iopt.domains) {
    const rc = areaMapDomain(iopt, area, pages, domain);
    if (rc) return unwind.exit(rc);
    unwind.onError('out_unmap', () => (domain === lastDomain ? storageUnmap(area, domain) : ioptAreaUnmapDomain(area, domain)));
  }
  const rc = ioptPagesCharge(pages); // pfn_reader_update_pinned
  if (rc) return unwind.exit(rc);
  area.filled = true;
  return unwind.exit(0);
};

/** iopt_fill_domains_pages: its err_undo unfills the elements already done (iopt_area_unfill_domains). */
function fillDomainsPages(iopt: IoPagetable, list: readonly PagesListElm[]): number {
  const unwind = new Unwind();
  for (const elm of list) {
    const rc = areaFillDomains(iopt, elm.area!, elm.pages!);
    if (rc) return unwind.exit(rc);
    unwind.onError('err_undo', () => unfill(iopt, elm.area!, elm.pages!));
  }
  return unwind.exit(0);
}

/**
 * Keep the IOAS's domains in the domains xarray's order: iopt_table_remove_domain
 * moves the tail entry into the removed one's slot, so xa_load(domains, 0) — the
 * storage domain — is what the kernel has there.
 */
function xarrayOrder(domains: IoptDomain[]): void {
  const splice = domains.splice.bind(domains);
  Object.defineProperty(domains, 'splice', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: (start: number, deleteCount?: number, ...items: IoptDomain[]): IoptDomain[] => {
      if (items.length || deleteCount !== 1 || start < 0 || start >= domains.length) return deleteCount === undefined ? splice(start) : splice(start, deleteCount, ...items);
      const removed = domains[start]!;
      const tail = domains.pop()!;
      if (start < domains.length) domains[start] = tail;
      return [removed];
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ fillDomains: fillDomainsPages });
  const vfioUnmap = vfioUnmapDmaWith((iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, unfill));
  return mutantImplementation('unfill-unmapped-end-starts-at-zero', profile, {
    handlers: {
      IOMMU_IOAS_UNMAP: unmapHandler(unfill),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
    compat: {
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg),
    },
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      xarrayOrder((obj as IommufdIoas).iopt.domains);
    },
  });
}
