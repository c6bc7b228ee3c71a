/**
 * access-pages-check-fail-keeps-pin (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_pages, IOMMU_TEST_OP_ACCESS_PAGES).
 *
 * The selftest access pins [iova, iova+length) through
 * iommufd_access_pin_pages() and then checks the returned pages against the
 * user VA (iommufd_test_check_pages: -EFAULT for an unreadable uptr, -EBADE
 * for a page that is not the one behind uptr). A failed check must undo the
 * pin before the item is ever recorded:
 *     rc = iommufd_access_pin_pages(staccess->access, iova, length, pages, flags);
 *     if (rc)
 *             goto out_free_pages;
 *     if (access_pages->uptr) {
 *             rc = iommufd_test_check_pages(uptr - (iova - ALIGN_DOWN(iova, PAGE_SIZE)),
 *                                           pages, npages);
 *             if (rc)
 *                     goto out_unaccess;
 *     }
 *     ...
 * out_unaccess:
 *     iommufd_access_unpin_pages(staccess->access, iova, length);
 * out_free_pages:
 *     kvfree(pages);
 * The fault jumps to the wrong label on a failed check (`goto
 * out_free_pages`): the pin is kept, but no item records it.
 *
 * Consequence, a failed command leaving state behind: the pages stay pinned
 * (and charged) with nothing that can release them — DESTROY_ACCESS_PAGES
 * has no item id for them, the access's unmap callback and its release
 * only unpin recorded items. The area keeps num_accesses raised, so every
 * later IOMMU_IOAS_UNMAP of it (and the IOAS's own destruction) notifies
 * the accesses a hundred times in vain and fails with EDEADLOCK; the area
 * stays mapped for good, prevent_access set, and its pages pinned after
 * every file is closed (the kernel only WARNs when the iopt_pages goes).
 *
 * Applied as: a copy of the reference's iommufd_test_access_pages with that
 * one label changed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler } from './_access_pages.ts';

/** iommufd_test_access_pages with THE FAULT: a failed check goes to out_free_pages instead of out_unaccess — the pin stays, no item records it. */
const accessPages = accessPagesHandler({ checkFailUnpins: false });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pages-check-fail-keeps-pin', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? accessPages(ucmd) : original(ucmd)),
    },
  });
}
