/**
 * check-iova-area-first-byte (drivers/iommu/iommufd/io_pagetable.c
 * iopt_check_iova, called by iopt_alloc_area_pages for every fixed-IOVA
 * placement: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY with
 * IOMMU_IOAS_MAP_FIXED_IOVA, VFIO_IOMMU_MAP_DMA; 6.12 and 7.3 alike).
 *
 *     if ((iova & (iopt->iova_alignment - 1)))
 *             return -EINVAL;
 *     if (check_add_overflow(iova, length - 1, &last))
 *             return -EOVERFLOW;
 *     (comment: No reserved IOVA intersects the range)
 *     if (iopt_reserved_iter_first(iopt, iova, last))
 *             return -EINVAL;
 *     (comment: Check that there is not already a mapping in the range)
 *     if (iopt_area_iter_first(iopt, iova, last))
 *             return -EEXIST;
 *     return 0;
 *
 * THE FAULT: the area lookup is made over the first IOVA only,
 * `iopt_area_iter_first(iopt, iova, iova)` (a copy-paste of the
 * point lookups iopt_cut_iova and the access code make). A fixed map whose
 * first byte is free but whose range runs into an existing area is not
 * refused: its area is inserted overlapping the old one.
 *
 * What a user sees: on an IOAS without domains, IOMMU_IOAS_MAP FIXED_IOVA
 * at X - 0x1000, length 0x2000 over an area at X succeeds where the kernel
 * answers EEXIST; two areas then cover X, an unmap of [X-0x1000, +0x2000)
 * answers ENOENT (the old area crosses its end), IOVA X has two backings and
 * attaching a domain fails (the second fill of X is EEXIST in the page
 * table). With a domain attached the domain map of the overlapping range
 * fails, so the map is refused anyway (with the page table's errno).
 *
 * Applied as: IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA run
 * the reference's iopt_map_pages (the _map.ts copy) with this
 * iopt_check_iova.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EEXIST, EINVAL, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';

/** iopt_check_iova with the area lookup over the first IOVA. */
function checkIova(iopt: IoPagetable, iova: bigint, length: bigint): number {
  if (iova & BigInt(iopt.iovaAlignment - 1)) return -EINVAL;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  if (iopt.reserved.some((r) => r.start <= last && r.last >= iova)) return -EINVAL;
  // THE FAULT: iopt_area_iter_first(iopt, iova, iova)
  if (ioptAreaIterFirst(iopt, iova, iova)) return -EEXIST;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ checkIova: (iopt, iova, length) => checkIova(iopt, iova, length) });
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('check-iova-area-first-byte', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
