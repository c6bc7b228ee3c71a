/**
 * fill-domains-offset-first-domain-only (drivers/iommu/iommufd/pages.c
 * iopt_area_fill_domains / batch_to_domain, reached from IOMMU_IOAS_MAP,
 * IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA on an IOAS with several domains).
 *
 * A new area is pinned once and the same pfn batch is written into every
 * domain of the IOAS:
 *
 *     xa_for_each(&area->iopt->domains, index, domain) {
 *             rc = batch_to_domain(&pfns.batch, domain, area,
 *                                  pfns.batch_start_index);
 *
 * and batch_to_domain() starts the first page of the area at its byte offset
 * inside that page:
 *
 *     /* The first index might be a partial page *\/
 *     if (start_index == iopt_area_index(area))
 *             page_offset = area->page_offset;
 *     ... iommu_map(domain, iova, PFN_PHYS(batch->pfns[cur]) + page_offset, ...)
 *
 * The fault: the partial first page is consumed from the reader state by the
 * first domain written (the offset is applied once per batch, not once per
 * domain), so every domain after the first in the IOAS's xarray maps the area
 * from the start of its first page. An IOAS whose IO page size is below
 * PAGE_SIZE (the mock IOMMU's 2 KiB pages) accepts maps whose user address is
 * not page aligned; in the first domain such an area is right, in the others
 * it is shifted down by the page offset.
 *
 * Consequence: with two (or more) HWPTs on one IOAS (two devices behind
 * IOMMUs that cannot share a domain, or a HWPT allocated per device), a map
 * of user memory at a sub-page offset gives the devices of the second HWPT a
 * window that starts page_offset bytes *before* the user's buffer: they read
 * and write bytes the user never mapped (the head of the page before uptr:
 * other data of the process), and the last page_offset bytes of the mapping
 * are out of their reach, while the first HWPT's devices see the right
 * bytes. Unmap removes the (shifted) translation with the rest.
 *
 * Applied where an area is written into the domains present when it is
 * mapped (IOMMU_IOAS_MAP, IOMMU_IOAS_COPY, VFIO_IOMMU_MAP_DMA), through a copy
 * of iopt_map_pages (_map.ts). A domain attached later (iopt_fill_domain, one
 * domain at a time) keeps the reference's fill.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { PAGE_SIZE, type IoPagetable, type IoptArea, type IoptDomain, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { areaFillDomainsWith, fillDomainsPagesWith, ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';

const P = BigInt(PAGE_SIZE);

/**
 * batch_to_domain over the whole area: IOVA [area.start, area.start + length)
 * from the pages' byte `startByte` on (the reference passes area.startByte).
 */
function mapArea(iopt: IoPagetable, area: IoptArea, pages: IoptPages, domain: IoptDomain, startByte: bigint): number {
  const first = Number(startByte / P);
  const endByte = startByte + area.length; // exclusive
  const lastIdx = Number((endByte - 1n) / P);
  const maxChunk = iopt.disableLargePages ? PAGE_SIZE : Number.MAX_SAFE_INTEGER;
  let mapped = 0n;
  let runIova = area.start;
  let runPa = -1;
  let runSize = 0;
  const flush = (): number => {
    if (runSize === 0) return 0;
    const rc = domain.map(runIova, runPa, runSize, area.iommuProt);
    if (rc) return rc;
    mapped += BigInt(runSize);
    return 0;
  };
  const unwind = new Unwind();
  unwind.onError('out_unmap', () => {
    if (mapped) domain.unmap(area.start, Number(mapped));
  });
  for (let i = first; i <= lastIdx; i++) {
    const pageStart = BigInt(i) * P;
    const from = i === first ? Number(startByte % P) : 0;
    const to = i === lastIdx ? Number(endByte - pageStart) : PAGE_SIZE;
    const pa = pages.pinnedPfn(i)! * PAGE_SIZE + from;
    const size = to - from;
    if (runSize > 0 && runPa + runSize === pa && runSize + size <= maxChunk) {
      runSize += size;
      continue;
    }
    const rc = flush();
    if (rc) return unwind.exit(rc);
    runIova = area.start + mapped;
    runPa = pa;
    runSize = size;
  }
  return unwind.exit(flush());
}

/** iopt_fill_domains_pages → iopt_area_fill_domains with the partial first page honoured for the first domain only. */
const fillDomains = fillDomainsPagesWith(
  areaFillDomainsWith({
    // THE FAULT: page_offset was consumed by the first domain's batch_to_domain().
    mapDomain: (iopt, area, pages, domain, index) => mapArea(iopt, area, pages, domain, index === 0 ? area.startByte : area.startByte - BigInt(area.pageOffset)),
  }),
);

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ fillDomains });
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('fill-domains-offset-first-domain-only', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
