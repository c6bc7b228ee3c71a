/**
 * fill-domain-large-pages-when-disabled (drivers/iommu/iommufd/pages.c
 * iopt_area_fill_domain → batch_to_domain, reached from iopt_table_add_domain
 * → iopt_fill_domain when a paging domain joins an IOAS that already has
 * mappings: a device attach, IOMMU_HWPT_ALLOC, IOMMU_TEST_OP_MOCK_DOMAIN).
 *
 * An IOAS with large pages disabled (IOMMU_OPTION(HUGE_PAGES, SET, 0), or
 * VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) on the compat IOAS) must put every area
 * into its domains one PAGE_SIZE IOPTE at a time, because that is what lets
 * VFIO type1 (v1) unmap *inside* a mapping: iommufd_vfio_unmap_dma cuts the
 * area (iopt_cut_iova → iopt_area_split, which trusts disable_large_pages:
 * "Splitting is not permitted if a domain could have been mapped with huge
 * pages") and then unmaps just the piece. batch_to_domain decides:
 *
 *     static int batch_to_domain(struct pfn_batch *batch,
 *                                struct iommu_domain *domain,
 *                                struct iopt_area *area,
 *                                unsigned long start_index)
 *     {
 *             bool disable_large_pages = area->iopt->disable_large_pages;
 *             ...
 *                     if (disable_large_pages)
 *                             rc = batch_iommu_map_small(
 *                                     domain, iova,
 *                                     PFN_PHYS(batch->pfns[cur]) + page_offset,
 *                                     next_iova - iova, iommu_prot);
 *                     else
 *                             rc = iommu_map(domain, iova,
 *                                            PFN_PHYS(batch->pfns[cur]) + page_offset,
 *                                            next_iova - iova, iommu_prot,
 *                                            GFP_KERNEL_ACCOUNT);
 *
 * The fault: the small-page decision is made by the callers and handed down
 * (batch_to_domain(..., bool disable_large_pages)); iopt_area_fill_domains
 * (the MAP / COPY path) passes area->iopt->disable_large_pages, but
 * iopt_area_fill_domain (a domain joining an IOAS that already has areas)
 * passes false — "the fast path for a domain being filled":
 *
 *             rc = batch_to_domain(&pfns.batch, domain, area,
 *                                  pfns.batch_start_index, false);
 *
 * Nothing shows when the domain is filled: the IOVAs translate to the right
 * pages, only through larger IOPTEs (a 2 MiB leaf on VT-d, a contiguous 8 KiB
 * … 64 KiB leaf on AMDv1 / the mock) wherever the pinned memory is physically
 * contiguous and aligned. It shows when VFIO type1 v1 later unmaps part of
 * such a mapping: the area is split (disable_large_pages says it may be) and
 * the piece is unmapped from the domain with iommu_unmap(), which cannot cut
 * a large IOPTE: an unmap that starts inside a leaf unmaps nothing
 * (generic_pt; iommu_unmap_nofail only WARNs), other page tables unmap more
 * than asked or worse — never just the piece.
 *
 * Consequence: after VFIO_IOMMU_MAP_DMA, an attach, and a successful
 * VFIO_IOMMU_UNMAP_DMA of a page inside the mapping, the device can still
 * read and write the unmapped page through the old IOVA although the page
 * was unpinned (and uncharged) by the unmap: once the process frees or
 * reuses that memory the device's DMA reaches whatever the frame is given
 * to next. Where the page table drops the whole leaf instead, the rest of
 * the mapping stops translating while the IOAS still lists it (DMA the user
 * was promised fails). Only an IOAS whose domain came after its mappings is
 * affected; one whose device was attached first is mapped small and behaves.
 *
 * Applied as: on every IOAS's io_pagetable, disable_large_pages reads false
 * between the start of iopt_table_add_domain (its duplicate-domain lookup in
 * the domains list) and the domain's insertion into the list (or the end of
 * the request), i.e. while iopt_fill_domain maps the existing areas into the
 * new domain.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** Install the fault on one IOAS's io_pagetable; `filling` holds the io_pagetables whose add_domain is filling. */
function install(iopt: IoPagetable, filling: Set<IoPagetable>): void {
  let disable = iopt.disableLargePages;
  Object.defineProperty(iopt, 'disableLargePages', {
    configurable: true,
    enumerable: true,
    // THE FAULT: batch_to_domain of iopt_area_fill_domain is told large pages are fine.
    get: () => disable && !filling.has(iopt),
    set: (v: boolean) => {
      disable = v;
    },
  });
  const domains = iopt.domains;
  const includes = domains.includes.bind(domains);
  const push = domains.push.bind(domains);
  Object.defineProperty(domains, 'includes', {
    configurable: true,
    enumerable: false,
    writable: true,
    // Only iopt_table_add_domain looks for a duplicate domain: it fills the existing areas next.
    value: (...args: Parameters<typeof includes>): boolean => {
      const found = includes(...args);
      if (!found) filling.add(iopt);
      return found;
    },
  });
  Object.defineProperty(domains, 'push', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: (...args: Parameters<typeof push>): number => {
      filling.delete(iopt);
      return push(...args);
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  const filling = new Set<IoPagetable>();
  return mutantImplementation('fill-domain-large-pages-when-disabled', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      install((obj as IommufdIoas).iopt, filling);
    },
    request: (req, next) => {
      try {
        return next(req);
      } finally {
        // A failed iopt_table_add_domain never reaches the insertion.
        filling.clear();
      }
    },
  });
}
