/**
 * alloc-area-pages-hint-drops-start-byte (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_area_pages, reached from IOMMU_IOAS_MAP and IOMMU_IOAS_COPY
 * without IOMMU_IOAS_MAP_FIXED_IOVA: iopt_map_pages → iopt_alloc_area_pages →
 * iopt_alloc_iova). 6.12 and 7.3 alike.
 *
 * The automatic IOVA is chosen from the user address the first piece starts
 * at, so that the IOVA keeps that address's page offset and alignment:
 *
 *     elm = list_first_entry(pages_list, struct iopt_pages_list, next);
 *     switch (elm->pages->type) {
 *     case IOPT_ADDRESS_USER:
 *             start = elm->start_byte + (uintptr_t)elm->pages->uptr;
 *             break;
 *     ...
 *     rc = iopt_alloc_iova(iopt, dst_iova, start, length);
 *
 * THE FAULT: `elm->start_byte +` is lost: the hint is the page-aligned base
 * of the iopt_pages, not the piece's own address. iopt_alloc_iova then keeps
 * page offset 0 and the base's alignment. The area itself still starts at
 * start_byte, so for a MAP whose user_va is not page aligned the IOVA's page
 * offset no longer matches the area's page_offset (IOVA page-aligned, data
 * at offset user_va % PAGE_SIZE), and for a COPY of a piece from inside an
 * area the alignment is the source buffer's, not the piece's. What a user
 * sees: IOMMU_IOAS_MAP of user_va = buf + 0x100 (no domain yet) returns an
 * IOVA ending in 0x000 where the kernel returns one ending in 0x100; an
 * automatic COPY may return a different IOVA (or ENOSPC/EINVAL where the
 * piece's smaller alignment would fit).
 *
 * Applied as: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY through the shared copy of
 * the map path (_map.ts) whose iopt_alloc_area_pages seeks the IOVA for the
 * wrong address. VFIO type1 compat MAP_DMA (always a fixed IOVA) is unaffected.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasMapHandler, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

// THE FAULT: `start = elm->start_byte + (uintptr_t)elm->pages->uptr;` lost its first term.
const mapPages = mapPagesWith({ autoIovaUptr: (first) => first.pages!.uptr });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-area-pages-hint-drops-start-byte', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
