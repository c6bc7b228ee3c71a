/**
 * map-small-unwind-lost (drivers/iommu/iommufd/pages.c
 * batch_iommu_map_small, called by batch_to_domain for every run of
 * physically contiguous PFNs while the IOAS has large pages disabled:
 * IOMMU_OPTION(HUGE_PAGES, SET, 0), or the VFIO type1 (v1) container,
 * VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU); reached from IOMMU_IOAS_MAP,
 * IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA; 6.12 and 7.3).
 *
 * With large pages disabled every run of contiguous PFNs is written into the
 * domain one PAGE_SIZE IOPTE at a time, so that a later type1 v1 unmap can
 * cut anywhere. The helper undoes its own partial work when a page fails (the
 * driver's page-table allocation: GFP_KERNEL_ACCOUNT, a memcg limit, an
 * injected failure), because its caller only knows whole runs:
 *
 *     static int batch_iommu_map_small(struct iommu_domain *domain,
 *                                      unsigned long iova, phys_addr_t paddr,
 *                                      size_t size, int prot)
 *     {
 *             unsigned long start_iova = iova;
 *             int rc;
 *             ...
 *             while (size) {
 *                     rc = iommu_map(domain, iova, paddr, PAGE_SIZE, prot,
 *                                    GFP_KERNEL_ACCOUNT);
 *                     if (rc)
 *                             goto err_unmap;
 *                     iova += PAGE_SIZE;
 *                     paddr += PAGE_SIZE;
 *                     size -= PAGE_SIZE;
 *             }
 *             return 0;
 *
 *     err_unmap:
 *             if (start_iova != iova)
 *                     iommu_unmap_nofail(domain, start_iova, iova - start_iova);
 *             return rc;
 *     }
 *
 * batch_to_domain's own err_unmap then removes the runs of the batch before
 * the failing one ([start_iova, iova) with iova the failing run's start), and
 * iopt_area_fill_domains' out_unmap the earlier batches (for the failing
 * domain end_index = done_all_end_index, the failing batch's first index).
 * Nobody else looks inside the failing run.
 *
 * THE FAULT: the helper returns the error without its unwind (`return rc;`
 * in the loop, as written when it was a plain loop around iommu_map, before
 * err_unmap existed — "the caller unmaps what failed"). The pages of the
 * failing run that were already mapped stay in the domain.
 *
 * Why it takes several commands: the map fails and reports the error (the
 * area is aborted, its pages unpinned and uncharged), so nothing is wrong in
 * the answer itself. What is left is in the domain: an IOVA range of the IOAS
 * that no area covers still translates, to pages that are no longer pinned —
 * the device attached to that HWPT keeps DMA access to memory the process can
 * free and the allocator can hand to anyone. A retry of the same
 * IOMMU_IOAS_MAP (FIXED_IOVA), which the IOAS accepts, then fails in the
 * domain on the first leftover IOPTE (the range is occupied) for as long as
 * the HWPT lives, and IOMMU_IOAS_UNMAP cannot remove what no area covers
 * (ENOENT). Only an IOAS with large pages disabled, a domain, an area whose
 * contiguous run crosses a page-table boundary of the domain (where a table
 * must be allocated), and a failure there show it.
 *
 * (The same helper fills a domain that is being added, iopt_area_fill_domain,
 * but a failed add frees its domain, leftovers and all.)
 *
 * Applied as: IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA run
 * copies of the reference's (_map.ts, _copy.ts) whose batch_to_domain, on an
 * IOAS with large pages disabled, maps page by page and on a failure unmaps
 * from the domain only what lies before the failing run (runs of contiguous
 * PFNs, in batches of 512 pages from the area's first index, as the pin runs).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PAGE_SIZE, type IoPagetable, type IoptArea, type IoptDomain, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { areaMapDomain } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation } from '../harness.ts';
import { areaFillDomainsWith, fillDomainsPagesWith, ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';

const P = BigInt(PAGE_SIZE);
/** Pages per pfn_reader batch (one page of page pointers). */
const BATCH_PAGES = 512;

/** batch_to_domain over the whole area with large pages disabled: batch_iommu_map_small per run, its unwind lost. */
function mapDomainSmall(iopt: IoPagetable, area: IoptArea, pages: IoptPages, domain: IoptDomain): number {
  if (!iopt.disableLargePages) return areaMapDomain(iopt, area, pages, domain);
  const first = area.firstIndex;
  const last = area.lastIndex;
  const endByte = area.startByte + area.length; // exclusive
  let iova = area.start;
  /** The IOVA where the current run of contiguous PFNs (batch->pfns[cur]) starts. */
  let runIova = area.start;
  let prevPfn = -2;
  for (let i = first; i <= last; i++) {
    const pfn = pages.pinnedPfn(i)!;
    if (i === first || (i - first) % BATCH_PAGES === 0 || pfn !== prevPfn + 1) runIova = iova;
    prevPfn = pfn;
    const from = i === first ? area.pageOffset : 0;
    const to = i === last ? Number(endByte - BigInt(i) * P) : PAGE_SIZE;
    const rc = domain.map(iova, pfn * PAGE_SIZE + from, to - from, area.iommuProt);
    if (rc) {
      // batch_to_domain's err_unmap (and the caller's out_unmap for earlier batches): [area start, run start).
      if (runIova > area.start) domain.unmap(area.start, Number(runIova - area.start));
      // THE FAULT: batch_iommu_map_small's err_unmap of [runIova, iova) is gone.
      return rc;
    }
    iova += BigInt(to - from);
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ fillDomains: fillDomainsPagesWith(areaFillDomainsWith({ mapDomain: mapDomainSmall })) });
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('map-small-unwind-lost', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
