/**
 * md-check-pa-overflow-unchecked (drivers/iommu/iommufd/selftest.c
 * iommufd_test_md_check_pa, IOMMU_TEST_OP_MD_CHECK_MAP; 6.12 and 7.3).
 *
 * The argument check refuses a user range that wraps the address space
 * before any page is looked up (7.3, after get_md_pagetable; 6.12 before it,
 * with MOCK_IO_PAGE_SIZE for page_size):
 *
 *         page_size = 1 << __ffs(mock->domain.pgsize_bitmap);
 *         if (iova % page_size || length % page_size ||
 *             (uintptr_t)uptr % page_size ||
 *             check_add_overflow((uintptr_t)uptr, (uintptr_t)length, &end)) {
 *                 rc = -EINVAL;
 *                 goto out_put;
 *         }
 *
 * Fault: the check_add_overflow() term is dropped (`end` was otherwise
 * unused, and a "remove unused variable" cleanup took the test with it).
 *
 * What a user sees: MD_CHECK_MAP with uptr + length past the top of the
 * address space is no longer EINVAL: the walk starts, and the first page
 * whose user address is not mapped answers get_user_pages_fast's EFAULT (a
 * wrapped range that is mapped goes on being compared page by page).
 *
 * Applied as: MD_CHECK_MAP whose uptr + length overflows runs the
 * reference's check without the overflow term; every other MD_CHECK_MAP is
 * the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mdCheckMapOps, mdCheckPaWith } from './_md_check_pa.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-pa-overflow-unchecked', profile, {
    handlers: { IOMMU_TEST_CMD: mdCheckMapOps(mdCheckPaWith({ checksOverflow: false })) },
  });
}
