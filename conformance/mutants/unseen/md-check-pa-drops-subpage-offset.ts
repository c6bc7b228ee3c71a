/**
 * md-check-pa-drops-subpage-offset (drivers/iommu/iommufd/selftest.c
 * iommufd_test_md_check_pa, IOMMU_TEST_OP_MD_CHECK_MAP; 6.12 and 7.3).
 * The mock domain's smallest IO page is MOCK_PAGE_SIZE (2 KiB) in both
 * (6.12's xarray table, 7.3's AMDv1-mock table), half a CPU page, so a
 * checked IO page can start in the middle of a user page.
 *
 * For each IO page the check pins the user page under uptr and compares the
 * domain's translation of the IOVA with the physical address of the byte
 * uptr points at — the frame plus uptr's offset inside it:
 *
 *     npages = get_user_pages_fast((uintptr_t)uptr & PAGE_MASK, 1, 0, pages);
 *     ...
 *     pfn = page_to_pfn(pages[0]);
 *     put_page(pages[0]);
 *
 *     io_phys = mock->domain.ops->iova_to_phys(&mock->domain, iova);
 *     if (io_phys != pfn * PAGE_SIZE + ((uintptr_t)uptr % PAGE_SIZE)) {
 *             rc = -EINVAL;
 *             goto out_put;
 *     }
 *
 * THE FAULT: the sub-page term is dropped (the check compares against the
 * frame's base only):
 *
 *     if (io_phys != pfn * PAGE_SIZE) {
 *
 * What a user sees: MD_CHECK_MAP over a range whose user address is 2 KiB
 * into a page — or any range of more than one 2 KiB IO page, whose second
 * half-page starts at offset 2048 — fails with EINVAL although the domain
 * maps exactly those bytes; a correct mapping reads as wrong. Conversely an
 * IOVA mapped to the first half of the page passes a check for the second
 * half (a wrong translation reads as right).
 *
 * Applied as: IOMMU_TEST_OP_MD_CHECK_MAP served by a copy of the
 * reference's iommufd_test_md_check_pa with the faulty comparison.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mdCheckMapOps, mdCheckPaWith } from './_md_check_pa.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-pa-drops-subpage-offset', profile, {
    // THE FAULT: the expected physical address drops + uptr % PAGE_SIZE.
    handlers: { IOMMU_TEST_CMD: mdCheckMapOps(mdCheckPaWith({ offset: () => 0n })) },
  });
}
