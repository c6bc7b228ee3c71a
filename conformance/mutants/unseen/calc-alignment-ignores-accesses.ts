/**
 * calc-alignment-ignores-accesses (drivers/iommu/iommufd/io_pagetable.c
 * iopt_calculate_iova_alignment, 6.12 and 7.3).
 *
 * An IOAS's IOVA alignment is the largest that any of its users needs: a
 * domain needs its smallest page size, and an access that pins pages
 * (ops->needs_pin_pages, the selftest's MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
 * every mdev driver) needs PAGE_SIZE, because iommufd_access_pin_pages()
 * hands out whole struct pages and refuses any area piece that does not
 * start (and, when the range goes on, end) on a page boundary
 * (iopt_area_contig_is_aligned). The recomputation, run whenever an access
 * joins or leaves (iopt_add_access / iopt_remove_access), when a domain
 * leaves and when HUGE_PAGES is toggled, is:
 *
 *     if (iopt->disable_large_pages)
 *             new_iova_alignment = PAGE_SIZE;
 *     else
 *             new_iova_alignment = 1;
 *
 *     xa_for_each(&iopt->domains, index, domain)
 *             new_iova_alignment = max_t(unsigned long,
 *                                        1UL << __ffs(domain->pgsize_bitmap),
 *                                        new_iova_alignment);
 *     xa_for_each(&iopt->access_list, index, access)
 *             new_iova_alignment = max_t(unsigned long,
 *                                        access->iova_alignment,
 *                                        new_iova_alignment);
 *
 *     if (new_iova_alignment > iopt->iova_alignment) {
 *             rc = iopt_check_iova_alignment(iopt, new_iova_alignment);
 *             ...
 *
 * The fault loses the access_list loop (as when the function was written
 * for domains only): accesses still join the list, the unmap notifier
 * still reaches them, but they no longer constrain the IOAS.
 *
 * Consequence, across the access and the IOAS's other users: with a
 * pinning access attached and no domain (or only the mock's 2 KiB-page
 * domain), IOMMU_IOAS_IOVA_RANGES reports out_iova_alignment 1 (2048)
 * instead of 4096, IOMMU_IOAS_MAP / IOMMU_IOAS_COPY accept sub-page IOVAs,
 * lengths and user offsets that must be EINVAL, and
 * IOMMU_TEST_OP_CREATE_ACCESS(NEEDS_PIN_PAGES) on an IOAS that already has
 * such a misaligned area succeeds instead of EADDRINUSE. The in-kernel
 * driver is then handed areas it cannot pin: its
 * iommufd_access_pin_pages() fails with EINVAL on IOVAs the IOAS accepted
 * and advertised as correctly aligned. When a domain leaves the IOAS, the
 * alignment falls back below PAGE_SIZE even though the access is still
 * there.
 *
 * Applied as: each ACCESS object's iova_alignment, which only
 * iopt_calculate_iova_alignment reads, is seen there as 1 (the value the
 * lost loop could never raise the maximum with); the access keeps its
 * PAGE_SIZE requirement everywhere else (its pins still demand aligned
 * pieces).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('calc-alignment-ignores-accesses', profile, {
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      // THE FAULT: xa_for_each(&iopt->access_list, ...) is gone from iopt_calculate_iova_alignment.
      Object.defineProperty(obj, 'iovaAlignment', { value: 1, writable: false, configurable: true, enumerable: true });
    },
  });
}
