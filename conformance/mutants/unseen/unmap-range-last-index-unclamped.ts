/**
 * unmap-range-last-index-unclamped (drivers/iommu/iommufd/pages.c
 * iopt_area_index_to_iova_last, the end of every iopt_area_unmap_domain_range:
 * IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA through iopt_area_unfill_domains,
 * and the unwind of a map that fails after filling, iopt_area_fill_domains'
 * out_unmap).
 *
 * iopt_pages works in CPU pages, an area in bytes: with an IO page size below
 * PAGE_SIZE (the selftest mock's 2 KiB pages make iova_alignment 2 KiB) an
 * area may begin and end inside a CPU page. Every domain unmap of an area
 * range goes through
 *
 *     static void iopt_area_unmap_domain_range(struct iopt_area *area,
 *                                              struct iommu_domain *domain,
 *                                              unsigned long start_index,
 *                                              unsigned long last_index)
 *     {
 *             unsigned long start_iova = iopt_area_index_to_iova(area, start_index);
 *
 *             iommu_unmap_nofail(domain, start_iova,
 *                                iopt_area_index_to_iova_last(area, last_index) -
 *                                        start_iova + 1);
 *     }
 *
 * whose end is clamped to the area for its last page:
 *
 *     static unsigned long iopt_area_index_to_iova_last(struct iopt_area *area,
 *                                                       unsigned long index)
 *     {
 *             ...
 *             if (index == iopt_area_last_index(area))
 *                     return iopt_area_last_iova(area);
 *             return iopt_area_iova(area) - area->page_offset +
 *                    (index - iopt_area_index(area) + 1) * PAGE_SIZE - 1;
 *     }
 *
 * The fault drops the clamp (the two lines read as a special case of the
 * general formula, which it is only for areas that end on a page boundary):
 *
 *     return iopt_area_iova(area) - area->page_offset +
 *            (index - iopt_area_index(area) + 1) * PAGE_SIZE - 1;
 *
 * so the unmap of an area whose last page is partial runs on to the end of
 * that CPU page in IOVA. iommu_unmap_nofail only WARNs when the driver reports
 * more bytes than the area had. The map side (batch_to_domain) is unchanged.
 *
 * Consequence: one area is unmapped, and the next one loses its head. When
 * another area starts in the IOVA right after an area that ends mid-page (two
 * 2 KiB maps back to back, or a map at a 2 KiB user offset followed by
 * another), IOMMU_IOAS_UNMAP of the first one (even one that then fails with
 * ENOENT on a later area of its range) also removes the first IO page of the
 * second from every domain of the IOAS. The second area is still in the IOAS,
 * still pinned, and reported mapped by the kernel, but the devices fault on
 * its first 2 KiB (DMA fails where it must succeed; translate says
 * unmapped). Worse, when the second area is unmapped in turn, its
 * iommu_unmap() stops at that hole (the iommu core's unmap loop ends at the
 * first IO page that is not mapped; iommu_unmap_nofail only WARNs): the rest
 * of it stays in the domain while its pages are unpinned — a stale
 * translation to memory iommufd no longer holds (7.3's AMDv1-format mock; the
 * 6.12 xarray mock erases the whole range). A MAP or COPY that fails after it
 * filled the domains (RLIMIT_MEMLOCK refusing the charge, a later piece
 * failing) does the same to the area after it. Only two areas together show
 * it: the first command's own result is right.
 *
 * Applied as: IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA tear areas down through
 * a copy of the reference's unmap walk (_unmap.ts) whose domain unmaps end at
 * the faulty last IOVA; IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA
 * fill through a copy of iopt_fill_domains_pages / iopt_area_fill_domains
 * (_map.ts) whose unwind unmaps the same way. (Removing a domain from the IOAS
 * unmaps through iopt_area_unmap_domain, area-length based, or from a domain
 * that is going away: unchanged. An IOAS is destroyed only once its domains
 * are gone.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { PAGE_SIZE, type IoPagetable, type IoptArea, type IoptDomain, type IoptPages, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { areaMapDomain, ioptAreaFillDomains, ioptPagesCharge, ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';
import { unmapHandler, unmapRange, vfioUnmapDmaWith, type Unfill } from './_unmap.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_area_index_to_iova_last(area, iopt_area_last_index(area)) with the clamp lost. */
function faultyLastIova(area: IoptArea): bigint {
  // THE FAULT: `if (index == iopt_area_last_index(area)) return iopt_area_last_iova(area);` is gone.
  return area.start - BigInt(area.pageOffset) + BigInt(area.lastIndex - area.firstIndex + 1) * P - 1n;
}

/** iopt_area_unmap_domain_range(area, domain, iopt_area_index(area), iopt_area_last_index(area)). */
function unmapDomainRange(area: IoptArea, domain: IoptDomain): void {
  domain.unmap(area.start, Number(faultyLastIova(area) - area.start + 1n));
}

/** iopt_area_unfill_domains: every domain (the storage one through __iopt_area_unfill_domain, same range), then the unpin. */
const unfill: Unfill = (iopt, area, pages) => {
  if (!area.filled) return;
  for (const domain of iopt.domains) unmapDomainRange(area, domain);
  ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
  area.filled = false;
};

/** iopt_area_fill_domains, its out_unmap through the faulty range (a domain the batch was fully mapped into). */
const areaFillDomains: typeof ioptAreaFillDomains = (iopt: IoPagetable, area: IoptArea, pages: IoptPages) => {
  if (iopt.domains.length === 0) return 0;
  const held = ioptPagesHold(pages, area.firstIndex, area.lastIndex, 'later');
  if (held.errno) return held.errno;
  const unwind = new Unwind();
  unwind.onError('out_unpin', () => ioptPagesRelease(pages, area.firstIndex, area.lastIndex));
  for (const domain of iopt.domains) {
    const rc = areaMapDomain(iopt, area, pages, domain);
    if (rc) return unwind.exit(rc);
    unwind.onError('out_unmap', () => unmapDomainRange(area, domain));
  }
  const rc = ioptPagesCharge(pages); // pfn_reader_update_pinned
  if (rc) return unwind.exit(rc);
  area.filled = true;
  return unwind.exit(0);
};

/** iopt_fill_domains_pages: its err_undo unfills the elements already done (iopt_area_unfill_domains). */
function fillDomainsPages(iopt: IoPagetable, list: readonly PagesListElm[]): number {
  const unwind = new Unwind();
  for (const elm of list) {
    const rc = areaFillDomains(iopt, elm.area!, elm.pages!);
    if (rc) return unwind.exit(rc);
    unwind.onError('err_undo', () => unfill(iopt, elm.area!, elm.pages!));
  }
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ fillDomains: fillDomainsPages });
  const vfioMap = vfioMapDmaHandler({ mapPages });
  const vfioUnmap = vfioUnmapDmaWith((iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, unfill));
  return mutantImplementation('unmap-range-last-index-unclamped', profile, {
    handlers: {
      IOMMU_IOAS_UNMAP: unmapHandler(unfill),
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
    compat: {
      VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d),
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg),
    },
  });
}
