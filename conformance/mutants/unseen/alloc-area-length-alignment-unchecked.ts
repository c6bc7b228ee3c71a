/**
 * alloc-area-length-alignment-unchecked (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_area_pages).
 *
 * Every area must start, end and sit in its pages at the IOAS's
 * iova_alignment (the largest of the domains' smallest page size, the
 * accesses' alignment, and PAGE_SIZE once IOMMU_OPTION_HUGE_PAGES is 0), so
 * that any domain later attached can map it and a VFIO type1 v1 cut stays on
 * a page boundary. iopt_alloc_area_pages checks the length first:
 *
 *     if ((length & (iopt->iova_alignment - 1)) || !length)
 *             return -EINVAL;
 *
 * (the IOVA is checked by iopt_check_iova / iopt_alloc_iova, the page offset
 * by iopt_insert_area).
 *
 * THE FAULT: the length test is reduced to `if (!length)`, as if the IOVA
 * and page-offset checks made the length one redundant. They do not: an
 * aligned IOVA with a ragged length gives an area whose end is not aligned.
 *
 * What a user sees: with no domain (the domains' own iommu_map refuses a
 * ragged size later anyway) but an alignment above 1 — an IOAS whose huge
 * pages were disabled (IOMMU_OPTION_HUGE_PAGES = 0, or the type1 v1 compat
 * IOAS) or one with an access that needs alignment — IOMMU_IOAS_MAP and
 * IOMMU_IOAS_COPY of e.g. 4097 bytes succeed where the kernel answers EINVAL.
 * The ragged area then blocks every later attach (the domain's iommu_map of
 * the tail byte fails) and makes IOVA_RANGES' alignment a lie.
 *
 * Applied as: IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA (which
 * shares iopt_map_user_pages) through the shared copy of the map path
 * (_map.ts) whose iopt_alloc_area_pages lacks the length test.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';

// THE FAULT: `if ((length & (iopt->iova_alignment - 1)) || !length)` becomes `if (!length)`.
const mapPages = mapPagesWith({ checksLengthAlignment: false });

export function createAdapter(profile: Profile): Implementation {
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('alloc-area-length-alignment-unchecked', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
