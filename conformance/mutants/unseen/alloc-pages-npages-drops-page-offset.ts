/**
 * alloc-pages-npages-drops-page-offset (drivers/iommu/iommufd/pages.c
 * iopt_alloc_pages; 6.12 computes it from the user pointer, 7.3 from the
 * start_byte iopt_alloc_user_pages hands down).
 *
 * An iopt_pages covers whole CPU pages: from the user pointer rounded down to
 * a page up to the page holding its last byte. When the user pointer is not
 * page aligned the first page is partial, so the count includes the offset:
 *
 *     6.12:  pages->uptr = (void __user *)ALIGN_DOWN((uintptr_t)uptr, PAGE_SIZE);
 *            pages->npages = DIV_ROUND_UP(length + (uptr - pages->uptr), PAGE_SIZE);
 *     7.3:   pages->npages = DIV_ROUND_UP(length + start_byte, PAGE_SIZE);
 *
 * and iopt_insert_area checks the area's last page index against it:
 *
 *     area->pages_node.start = start_byte / PAGE_SIZE;
 *     if (check_add_overflow(start_byte, length - 1, &area->pages_node.last))
 *             return -EOVERFLOW;
 *     area->pages_node.last = area->pages_node.last / PAGE_SIZE;
 *     if (WARN_ON(area->pages_node.last >= pages->npages))
 *             return -EOVERFLOW;
 *
 * THE FAULT: `pages->npages = DIV_ROUND_UP(length, PAGE_SIZE)` — the page
 * offset of the user pointer left out (the term 7.3 moved into a new
 * start_byte argument, easy to drop in such a refactor). Page-aligned user
 * pointers are unaffected; a map whose user range starts inside a page and,
 * because of that offset, reaches one page further than its length alone
 * would (user_va = buf + 0x800, length 0x1000: bytes of two pages) gets an
 * iopt_pages one page short, and iopt_insert_area refuses it with EOVERFLOW
 * (and a WARN). A sub-page map only passes iopt_insert_area's alignment test
 * into an IOAS without a domain (iova_alignment 1) or with the selftest's
 * mock domain (2 KiB), so only those see it: IOMMU_IOAS_MAP and VFIO type1
 * MAP_DMA (both iopt_map_user_pages) fail where the kernel maps. COPY reuses
 * existing iopt_pages and is unaffected.
 *
 * Applied as: IOMMU_IOAS_MAP and VFIO_IOMMU_MAP_DMA build the iopt_pages with
 * the short count and insert the area with iopt_insert_area's own pages_node
 * bounds check.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IoptPages, PAGE_SIZE, type IoPagetable, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { mutantImplementation } from '../harness.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_map_pages checking the pages_node bounds as iopt_insert_area does. */
const insertChecked = mapPagesWith({ checksPagesBounds: true });

/** iopt_map_user_pages' list: its one iopt_pages, as the faulty iopt_alloc_pages sized it. */
function mapPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  for (const elm of list) {
    const p = elm.pages!;
    // THE FAULT: DIV_ROUND_UP(length, PAGE_SIZE), without the user pointer's offset in its first page.
    const npages = Number((length + P - 1n) / P);
    if (npages !== p.npages) elm.pages = new IoptPages(p.proc, p.uptr, npages, p.writable, p.accountMode);
  }
  return insertChecked(iopt, list, length, dstIova, prot, flags);
}

export function createAdapter(profile: Profile): Implementation {
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('alloc-pages-npages-drops-page-offset', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
