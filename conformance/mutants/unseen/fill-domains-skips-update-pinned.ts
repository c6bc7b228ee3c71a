/**
 * fill-domains-skips-update-pinned (drivers/iommu/iommufd/pages.c
 * iopt_area_fill_domains, reached from IOMMU_IOAS_MAP and IOMMU_IOAS_COPY
 * into an IOAS that already has a domain: iopt_map_pages →
 * iopt_fill_domains_pages → iopt_area_fill_domains). 6.12 and 7.3 alike.
 *
 * A new area's pages are pinned once and mapped into every domain; only then
 * is the pin charged (RLIMIT_MEMLOCK through locked_vm, and pinned_vm):
 *
 *     while (!pfn_reader_done(&pfns)) {
 *             ...
 *             xa_for_each(&area->iopt->domains, index, domain) {
 *                     rc = batch_to_domain(&pfns.batch, domain, area, ...);
 *                     if (rc) goto out_unmap;
 *             }
 *             ...
 *     }
 *     rc = pfn_reader_update_pinned(&pfns);
 *     if (rc)
 *             goto out_unmap;
 *
 * THE FAULT: the pfn_reader_update_pinned() call (and its error exit) is
 * lost in this function (iopt_area_fill_domain, the attach path, keeps it).
 * pages->npinned grows but last_npinned does not, so nothing is charged: a
 * MAP into an IOAS with a domain pins pages without touching locked_vm or
 * pinned_vm and is never refused for RLIMIT_MEMLOCK. When the area goes, the
 * unpin brings npinned back to last_npinned and nothing is uncharged either
 * (the next charge of the same iopt_pages, e.g. an access pin, would charge
 * the stale difference instead). What a user sees: a MAP beyond
 * RLIMIT_MEMLOCK succeeds where the kernel answers ENOMEM; the process's
 * locked_vm/pinned_vm stay 0 while pages are pinned.
 *
 * Applied as: IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA (which
 * shares iopt_map_user_pages) through the shared copy of the map path
 * (_map.ts) whose iopt_area_fill_domains lacks the charge.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { areaFillDomainsWith, fillDomainsPagesWith, ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';

// THE FAULT: `rc = pfn_reader_update_pinned(&pfns); if (rc) goto out_unmap;` is gone from iopt_area_fill_domains.
const mapPages = mapPagesWith({ fillDomains: fillDomainsPagesWith(areaFillDomainsWith({ charges: false })) });

export function createAdapter(profile: Profile): Implementation {
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('fill-domains-skips-update-pinned', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }), IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
