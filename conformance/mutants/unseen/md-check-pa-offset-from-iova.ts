/**
 * Round 38 fault D4 (selftest, MD_CHECK_MAP): iommufd_test_md_check_pa
 * (drivers/iommu/iommufd/selftest.c) takes the in-page offset of the
 * expected physical address from the IOVA instead of the user pointer:
 *
 *     io_phys = mock->domain.ops->iova_to_phys(&mock->domain, iova);
 *     if (io_phys != pfn * PAGE_SIZE + ((uintptr_t)uptr % PAGE_SIZE)) {
 *
 * becomes `pfn * PAGE_SIZE + (iova % PAGE_SIZE)` (6.12: the same for the
 * xarray entry compare, `... * MOCK_IO_PAGE_SIZE != pfn * PAGE_SIZE + ...`).
 *
 * The two offsets agree whenever the IOVA and the user address share their
 * offset in a CPU page, which is how most maps are made. Where they do not
 * (mock domains have 2 KiB IO pages, so an IOVA may sit at a 2 KiB offset
 * from a page-aligned buffer): a correct mapping is reported as a mismatch
 * (EINVAL), and a mapping of the wrong half page is reported as correct (0).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mdCheckMapOps, mdCheckPaWith } from './_md_check_pa.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-pa-offset-from-iova', profile, {
    // THE FAULT: the expected address's offset in the page is the IOVA's, not uptr's.
    handlers: { IOMMU_TEST_CMD: mdCheckMapOps(mdCheckPaWith({ offset: (iova) => iova % 4096n })) },
  });
}
