/**
 * access-pages-check-gated-by-syz-flag (iommufd_test_access_pages,
 * drivers/iommu/iommufd/selftest.c; reached by IOMMU_TEST_OP_ACCESS_PAGES
 * with uptr 0, or with MOCK_FLAGS_ACCESS_SYZ; 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     rc = iommufd_access_pin_pages(staccess->access, iova, length, pages,
 *                                   flags & MOCK_FLAGS_ACCESS_WRITE);
 *     if (rc)
 *             goto out_unlock;
 *
 *     // For syzkaller allow uptr to be NULL to skip this check
 *     if (uptr) {
 *             rc = iommufd_test_check_pages(
 *                     uptr - (iova - ALIGN_DOWN(iova, PAGE_SIZE)), pages,
 *                     npages);
 *             if (rc)
 *                     goto out_unaccess;
 *     }
 *
 * The pinned pages are compared with the pages behind uptr (EBADE on a
 * mismatch, EFAULT for an unreadable uptr, and the pin undone) whenever a
 * uptr is given; a NULL uptr skips the comparison, whatever the flags.
 *
 * The fault: the comment's "for syzkaller" is turned into the condition:
 *
 *     if (!(flags & MOCK_FLAGS_ACCESS_SYZ)) {
 *             rc = iommufd_test_check_pages(...);
 *
 * Observable: a plain ACCESS_PAGES with uptr 0 now checks against address 0
 * and fails EFAULT (the pin undone, no item) where the kernel pins and
 * returns an item; a syzkaller-mode ACCESS_PAGES with a uptr whose pages are
 * not the pinned ones succeeds (the pin kept, an item returned) where the
 * kernel answers EBADE and unpins — so pin counts (MD_CHECK_REFS) and
 * whether a later DESTROY_ACCESS_PAGES finds the item differ too.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES runs the shared copy of
 * iommufd_test_access_pages (_access_pages.ts) with the check gated by the
 * flag; every other test op is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler } from './_access_pages.ts';

// THE FAULT: the page check runs unless the syzkaller flag is set; the kernel tests `if (uptr)`.
const testAccessPages = accessPagesHandler({ checksPages: (flags) => !(flags & MOCK_FLAGS_ACCESS_SYZ) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pages-check-gated-by-syz-flag', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : original(ucmd)),
    },
  });
}
