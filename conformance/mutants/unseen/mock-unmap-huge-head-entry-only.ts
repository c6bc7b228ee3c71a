/**
 * mock-unmap-huge-head-entry-only (drivers/iommu/iommufd/selftest.c
 * mock_domain_unmap_pages, 6.12).
 *
 * The 6.12 selftest mock domain keeps no real page table: an xarray holds one
 * entry per MOCK_IO_PAGE_SIZE (2 KiB) of IOVA, also inside a huge
 * (MOCK_HUGE_PAGE_SIZE, 1 MiB) page, which a mock device created with
 * MOCK_FLAGS_DEVICE_HUGE_IOVA adds to the domain's pgsize_bitmap.
 * mock_domain_map_pages stores all 512 entries of a huge page, and
 * mock_domain_unmap_pages erases them all:
 *
 *     for (; pgcount; pgcount--) {
 *             size_t cur;
 *
 *             for (cur = 0; cur != pgsize; cur += MOCK_IO_PAGE_SIZE) {
 *                     ent = xa_erase(&mock->pfns, iova / MOCK_IO_PAGE_SIZE);
 *                     ...
 *                     iova += MOCK_IO_PAGE_SIZE;
 *                     ret += MOCK_IO_PAGE_SIZE;
 *             }
 *     }
 *     return ret;
 *
 * The fault writes the unmap the way a real page table unmaps, one entry per
 * IO page of the size the core chose:
 *
 *     for (; pgcount; pgcount--) {
 *             ent = xa_erase(&mock->pfns, iova / MOCK_IO_PAGE_SIZE);
 *             ...
 *             iova += pgsize;
 *             ret += pgsize;
 *     }
 *
 * It returns the right byte count, so __iommu_unmap and iommufd see a
 * complete unmap, and with 2 KiB pages (every domain without HUGE_IOVA, and
 * every piece iommu_pgsize() does not pick 1 MiB for) it erases exactly what
 * the kernel erases. Whenever the core unmaps with 1 MiB pages — any unmap of
 * a MiB-aligned IOVA range of at least 1 MiB in a HUGE_IOVA domain, however
 * it was mapped — only the first 2 KiB of each MiB goes: the other 511
 * entries keep translating to frames iommufd has just unpinned (and
 * uncharged) and handed back to the process, so a DMA by the device still
 * reads and writes them after IOMMU_IOAS_UNMAP, after the HWPT is destroyed
 * or the device moved away, into memory the process may reuse for anything.
 * A later map of the same IOVA overwrites the stale entries (WARN_ON(old)).
 *
 * Applied as: the unmap of every 6.12 mock domain allocated with huge IOVA
 * pages is __iommu_unmap over the faulty mock_domain_unmap_pages.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { MOCK_IO_PAGE_SIZE, type MockSparseTable } from '../../../impl/pagetable/mock612.ts';
import { iommuPgsize } from '../../../impl/pagetable/pgsize.ts';

/** mock_domain_unmap_pages with the fault: one xa_erase per IO page of `pgsize`. */
function unmapPages(mock: MockSparseTable, iova: number, pgsize: number, pgcount: number): number {
  let ret = 0;
  for (; pgcount > 0; pgcount--) {
    // THE FAULT: the head entry of each `pgsize` page only.
    mock.pfns.delete(iova / MOCK_IO_PAGE_SIZE);
    iova += pgsize;
    ret += pgsize;
  }
  return ret;
}

/** __iommu_unmap over the faulty mock_domain_unmap_pages (0 when unaligned). */
function unmap(mock: MockSparseTable, iova: number, size: number): number {
  if ((iova % MOCK_IO_PAGE_SIZE) + (size % MOCK_IO_PAGE_SIZE) !== 0) return 0;
  let unmapped = 0;
  while (unmapped < size) {
    const [pg, count] = iommuPgsize(mock.pgsizeLg2, iova, iova, size - unmapped);
    const n = unmapPages(mock, iova, 2 ** pg, count);
    if (n === 0) break;
    iova += n;
    unmapped += n;
  }
  return unmapped;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-unmap-huge-head-entry-only', profile, {
    domain: (d) => {
      const mock = d.hw?.mock;
      // Only a huge-IOVA domain has pages of more than one entry; the others are untouched.
      if (!mock || mock.pgsizeLg2.length < 2) return;
      patchOwn(mock, 'unmap', () => (iova: number, size: number) => unmap(mock, iova, size));
    },
  });
}
