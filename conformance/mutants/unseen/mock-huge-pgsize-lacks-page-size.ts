/**
 * mock-huge-pgsize-lacks-page-size — drivers/iommu/iommufd/selftest.c
 * mock_domain_alloc_pgtable() (7.3), the MOCK_IOMMUPT_HUGE branch, reached
 * only by IOMMU_HWPT_ALLOC with IOMMU_HWPT_DATA_SELFTEST and
 * pagetable_type = MOCK_IOMMUPT_HUGE.
 *
 * The kernel's code:
 *
 *     /*
 *      * In huge mode userspace should only provide huge pages, we
 *      * have to include PAGE_SIZE for the domain to be accepted by
 *      * iommufd.
 *      *\/
 *     if (user_cfg->pagetable_type == MOCK_IOMMUPT_HUGE)
 *             mock->domain.pgsize_bitmap = MOCK_HUGE_PAGE_SIZE |
 *                                          PAGE_SIZE;
 *
 * THE FAULT: the override keeps only the huge size ("userspace should only
 * provide huge pages"), dropping the PAGE_SIZE the comment asks for:
 *
 *             mock->domain.pgsize_bitmap = MOCK_HUGE_PAGE_SIZE;
 *
 * iommufd takes the IOAS alignment from the lowest bit of the domain's
 * pgsize_bitmap (iopt_table_add_domain / iopt_calculate_iova_alignment), so
 * a huge-mode HWPT raises its IOAS's IOVA alignment to 1 MiB: attaching it
 * to an IOAS that holds a 4 KiB-aligned area fails with EINVAL, and once it
 * is attached every 4 KiB-aligned IOMMU_IOAS_MAP / COPY / ALLOW_IOVAS the
 * kernel accepts is refused with EINVAL; IOMMU_IOAS_IOVA_RANGES reports the
 * 1 MiB alignment. (The table itself still maps 4K and 1M leaves.)
 *
 * Applied as (7.3 only): the pgsize_bitmap iommufd reads from each
 * huge-mode mock domain lacks PAGE_SIZE.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

const PAGE_SIZE = 4096n;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-huge-pgsize-lacks-page-size', profile, {
    domain(d, env) {
      if (env.profile !== '7.3' || d.format !== 'amdv1-mock-huge') return;
      const full = d.pgsizeBitmap;
      Object.defineProperty(d, 'pgsizeBitmap', { get: () => full & ~PAGE_SIZE, configurable: true, enumerable: false });
    },
  });
}
