/**
 * batch-to-domain-tail-unclamped (drivers/iommu/iommufd/pages.c
 * batch_to_domain, reached from iopt_area_fill_domains / iopt_area_fill_domain
 * through the pfn reader's batches).
 *
 * batch_to_domain maps a batch of pinned PFN runs into a domain at the
 * area's IOVA. iopt_pages works in whole CPU pages, but an area need not end
 * on one: with an IO page size below PAGE_SIZE (the selftest's mock domain,
 * MOCK_IO_PAGE_SIZE = 2 KiB, makes iova_alignment 2 KiB) an area may end in
 * the middle of its last page. Each run is therefore clamped to the area:
 *
 *     next_iova = min(last_iova + 1,
 *                     next_iova + batch->npfns[cur] * PAGE_SIZE - page_offset);
 *     ...
 *     rc = iommu_map(domain, iova, PFN_PHYS(batch->pfns[cur]) + page_offset,
 *                    next_iova - iova, area->iommu_prot, GFP_KERNEL_ACCOUNT);
 *
 * The fault drops the min() (the clamp only matters for sub-page areas, which
 * no production IOMMU makes): the last run of an area is mapped up to the end
 * of its last CPU page. Every other path still uses the area's true extent —
 * the unmap (iopt_area_unmap_domain, iopt_area_unmap_domain_range via
 * iopt_area_index_to_iova_last) stops at iopt_area_last_iova().
 *
 * Consequence for a user: mapping an area that ends mid-page (e.g. 2 KiB, or
 * 6 KiB, at a page-aligned user address into an IOAS with a mock domain)
 * makes the IOVA right after the area translate to the rest of that user
 * page: a device reaches bytes the program never mapped there, and the
 * extra IO page silently replaces whatever a neighbouring area had mapped at
 * that IOVA (the mock overwrites present entries). When the area is
 * unmapped the tail stays in the domain while the page is unpinned: a stale
 * translation to memory iommufd no longer holds.
 *
 * Applied as: every paging domain the machine's drivers allocate maps a
 * range that ends inside a CPU page up to that page's end (only the last run
 * of an area can end there: the others end on page boundaries).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PAGE_SIZE } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('batch-to-domain-tail-unclamped', profile, {
    domain: (d) => {
      patchOwn(d, 'map', (map) => (iova: bigint, pa: number, size: number, prot: number) => {
        // THE FAULT: next_iova not clamped to last_iova + 1: the run ends on a PAGE_SIZE boundary of its PFN.
        const rem = (pa + size) % PAGE_SIZE;
        return map(iova, pa, rem ? size + (PAGE_SIZE - rem) : size, prot);
      });
    },
  });
}
