/**
 * insert-area-skips-page-offset-check (drivers/iommu/iommufd/io_pagetable.c,
 * iopt_insert_area — reached from iopt_alloc_area_pages for IOMMU_IOAS_MAP,
 * IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA).
 *
 * An IOVA alignment above 1 (a domain's smallest page, an access that pins
 * pages — PAGE_SIZE — or IOMMU_OPTION_HUGE_PAGES 0, which makes it PAGE_SIZE
 * for batch_iommu_map_small) binds the user side of a new area as well as its
 * IOVA: the area's offset into its first page must be aligned too, so that
 * any domain added later can map it (iommu_map needs iova, paddr and size
 * aligned to the domain's smallest page):
 *
 *     area->iommu_prot = iommu_prot;
 *     area->page_offset = start_byte % PAGE_SIZE;
 *     if (area->page_offset & (iopt->iova_alignment - 1))
 *             return -EINVAL;
 *
 * THE FAULT: the test is dropped (only the IOVA's alignment, iopt_check_iova
 * / iopt_alloc_iova, and the length's, iopt_alloc_area_pages, are kept). With
 * a domain in the IOAS the fill still fails (iommu_map refuses the unaligned
 * paddr with the same EINVAL), so the slip shows where nothing is mapped yet:
 * an IOAS with large pages disabled (IOMMU_OPTION_HUGE_PAGES 0, or a type1 v1
 * compat container) or with a pinning access, and a fixed-IOVA map or copy of
 * a user address that is not page aligned. The kernel refuses it (EINVAL);
 * the fault creates the area, whose iova_alignment promise is then broken:
 * a later attach of a device (iopt_table_add_domain sees no alignment change
 * and does not re-check the areas) fails in iommu_map where it must succeed,
 * and an access pin of it fails iopt_area_contig_is_aligned.
 *
 * Applied to IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA through
 * a copy of iopt_map_pages whose iopt_insert_area lacks the test.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';

/** iopt_map_pages over iopt_insert_area without its page-offset test (THE FAULT). */
const mapPages = mapPagesWith({ checksPageOffset: false });

const map = ioasMapHandler({ mapPages });
const copy = copyHandler({ mapPages });
const mapDma = vfioMapDmaHandler({ mapPages });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('insert-area-skips-page-offset-check', profile, {
    handlers: { IOMMU_IOAS_MAP: (ucmd) => map(ucmd), IOMMU_IOAS_COPY: (ucmd) => copy(ucmd) },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => mapDma(ctx, d) },
  });
}
