/**
 * check-iova-exclusive-end (drivers/iommu/iommufd/io_pagetable.c
 * iopt_check_iova, called by iopt_alloc_area_pages for every fixed-IOVA
 * placement: IOMMU_IOAS_MAP with IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_COPY
 * with it, VFIO_IOMMU_MAP_DMA).
 *
 * The kernel's (6.12 and 7.3 alike) works on the inclusive last IOVA, so a
 * range that ends exactly at ULONG_MAX is fine:
 *
 *     if ((iova & (iopt->iova_alignment - 1)))
 *             return -EINVAL;
 *
 *     if (check_add_overflow(iova, length - 1, &last))
 *             return -EOVERFLOW;
 *
 *     (comment: No reserved IOVA intersects the range)
 *     if (iopt_reserved_iter_first(iopt, iova, last))
 *             return -EINVAL;
 *
 *     (comment: Check that there is not already a mapping in the range)
 *     if (iopt_area_iter_first(iopt, iova, last))
 *             return -EEXIST;
 *     return 0;
 *
 * THE FAULT computes the exclusive end first and derives last from it, the
 * way most range code in the kernel is written (iommu_map's `iova + size`,
 * VFIO type1's `iova + size - 1 < iova` style checks):
 *
 *     if (check_add_overflow(iova, length, &end))
 *             return -EOVERFLOW;
 *     last = end - 1;
 *
 * Identical for every range but one: a range whose last byte is the very
 * top of the IOVA space (iova + length == 2^64) wraps `end` to 0, so the
 * fixed-IOVA map, copy or MAP_DMA of the top page(s) of an IOAS without an
 * aperture reservation there (no domain, or an access-only IOAS) fails with
 * -EOVERFLOW where the kernel maps it. IOMMU_IOAS_IOVA_RANGES reports the
 * hole up to ULONG_MAX, and the user cannot map its last page; automatic
 * IOVAs never go there (iopt_alloc_iova stops at ULONG_MAX - PAGE_SIZE), so
 * only a fixed placement at the top shows it.
 *
 * Applied as: IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA run the
 * reference's iopt_map_pages (_map.ts's copy) with this iopt_check_iova.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EEXIST, EINVAL, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';

/** iopt_check_iova with the exclusive end. */
function checkIova(iopt: IoPagetable, iova: bigint, length: bigint): number {
  if (iova & BigInt(iopt.iovaAlignment - 1)) return -EINVAL;
  // THE FAULT: check_add_overflow(iova, length, &end); last = end - 1;
  const end = iova + length;
  if (end > ULONG_MAX) return -EOVERFLOW;
  const last = end - 1n;
  if (iopt.reserved.some((r) => r.start <= last && r.last >= iova)) return -EINVAL;
  if (ioptAreaIterFirst(iopt, iova, last)) return -EEXIST;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ checkIova: (iopt, iova, length) => checkIova(iopt, iova, length) });
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('check-iova-exclusive-end', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
