/**
 * check-iova-skips-alignment (drivers/iommu/iommufd/io_pagetable.c
 * iopt_check_iova, called by iopt_alloc_area_pages for every fixed-IOVA
 * IOMMU_IOAS_MAP / IOMMU_IOAS_COPY / VFIO_IOMMU_MAP_DMA; 6.12 and 7.3 alike).
 *
 * The kernel:
 *
 *     static int iopt_check_iova(struct io_pagetable *iopt, unsigned long iova,
 *                                unsigned long length)
 *     {
 *             unsigned long last;
 *
 *             lockdep_assert_held(&iopt->iova_rwsem);
 *
 *             if ((iova & (iopt->iova_alignment - 1)))
 *                     return -EINVAL;
 *
 *             if (check_add_overflow(iova, length - 1, &last))
 *                     return -EOVERFLOW;
 *             ...reserved -> -EINVAL, area -> -EEXIST
 *
 * The fault drops the alignment test (the line went missing when the overflow
 * check was reworked): a fixed IOVA that is not a multiple of the IOAS's
 * iova_alignment is accepted. The alignment is above 1 only with a domain
 * attached (its smallest page size), an access that demands it, or large
 * pages disabled (IOMMU_OPTION_HUGE_PAGES = 0 makes it PAGE_SIZE).
 *
 * What a user sees: with huge pages disabled (or a domain attached), an
 * IOMMU_IOAS_MAP with IOMMU_IOAS_MAP_FIXED_IOVA at a sub-page IOVA succeeds
 * (the kernel: -EINVAL); the misaligned area then blocks attaching a domain
 * later (EADDRINUSE from iopt_check_iova_alignment) and is mapped into a
 * domain at an address its page table cannot express.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EEXIST, EINVAL, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';

/** iopt_check_iova without `iova & (iopt->iova_alignment - 1)`. */
function checkIova(iopt: IoPagetable, iova: bigint, length: bigint): number {
  // THE FAULT: if (iova & (iopt->iova_alignment - 1)) return -EINVAL;  -- missing
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  if (iopt.reserved.some((r) => r.start <= last && r.last >= iova)) return -EINVAL;
  if (iopt.areas.some((a) => a.start <= last && a.last >= iova)) return -EEXIST;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ checkIova });
  const mapDma = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('check-iova-skips-alignment', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => mapDma(ctx, d) },
  });
}
