/**
 * md-check-refs-uptr-not-advanced (drivers/iommu/iommufd/selftest.c
 * iommufd_test_md_check_refs; reached by IOMMU_TEST_CMD
 * IOMMU_TEST_OP_MD_CHECK_REFS over more than one page; 6.12 and 7.3).
 *
 * The kernel's code (both profiles):
 *
 *     if (length % PAGE_SIZE || (uintptr_t)uptr % PAGE_SIZE ||
 *         check_add_overflow((uintptr_t)uptr, (uintptr_t)length, &end))
 *             return -EINVAL;
 *
 *     for (; length; length -= PAGE_SIZE) {
 *             struct page *pages[1];
 *             long npages;
 *
 *             npages = get_user_pages_fast((uintptr_t)uptr, 1, 0, pages);
 *             if (npages < 0)
 *                     return npages;
 *             ...
 *                     count = page_ref_count(pages[0]);
 *                     if (count / GUP_PIN_COUNTING_BIAS != refs) {
 *                             put_page(pages[0]);
 *                             return -EIO;
 *                     }
 *             ...
 *             put_page(pages[0]);
 *             uptr += PAGE_SIZE;
 *     }
 *
 * Every page of [uptr, uptr + length) must carry exactly `refs` pins.
 *
 * THE FAULT: the cursor step at the bottom of the loop is lost (the loop
 * header only steps `length`, and the put_page/error rework dropped the
 * `uptr += PAGE_SIZE;` line), so the first page is looked up length/PAGE_SIZE
 * times and the rest of the range is never examined.
 *
 * Observable: only the first page decides. MD_CHECK_REFS answers 0 where
 * the kernel answers EIO whenever the first page has `refs` pins and a later
 * page of the range does not (a map or an access pin covering only part of
 * the checked buffer, a pin leaked or lost on a later page); and a later page
 * that is unmapped or unreadable gives 0 where the kernel's GUP fails with
 * EFAULT. The pin-count evidence userspace (and the selftests) read through
 * this op is wrong for every page but the first.
 *
 * Applied as: IOMMU_TEST_OP_MD_CHECK_REFS runs a copy of
 * iommufd_test_md_check_refs with the faulty loop; every other test op is
 * the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { checkRefsMutant } from './_check_refs.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: no `uptr += PAGE_SIZE;` at the end of the loop.
  return checkRefsMutant('md-check-refs-uptr-not-advanced', profile, { advances: false });
}
