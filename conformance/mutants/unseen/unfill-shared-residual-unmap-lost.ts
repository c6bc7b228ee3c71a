/**
 * unfill-shared-residual-unmap-lost (drivers/iommu/iommufd/pages.c
 * __iopt_area_unfill_domain, reached from iopt_area_unfill_domains on
 * IOMMU_IOAS_UNMAP).
 *
 * When an area leaves its storage domain, __iopt_area_unfill_domain walks the
 * area's page indexes as a double span over pages->domains_itree (the other
 * areas of the same iopt_pages that are filled into some domain: IOAS_COPY
 * makes them, in this IOAS or another) and pages->access_itree (in-kernel
 * accesses). Holes are unmapped and unpinned by iopt_area_unpin_domain(),
 * which reads ahead to the end of the area and unmaps everything from
 * unmapped_end_index on; spans still used elsewhere are only skipped
 * (batch_skip_carry) because their PFNs must stay pinned. What no hole
 * covered is unmapped after the loop, without unpinning:
 *
 *     /*
 *      * If the range ends in a access then we do the residual unmap without
 *      * any unpins.
 *      *\/
 *     if (unmapped_end_index != last_index + 1)
 *             iopt_area_unmap_domain_range(area, domain, unmapped_end_index,
 *                                          last_index);
 *
 * The fault loses that residual unmap (the "used" spans are treated as done
 * once skipped). An area with at least one hole is still unmapped whole (the
 * read-ahead of the first hole reaches the area's end), but an area whose
 * every page is still used by another area of the same iopt_pages, or by an
 * access, is never unmapped from its storage domain: IOMMU_IOAS_UNMAP
 * succeeds, the area is gone from the IOAS, and its IOVA still translates.
 *
 * Consequence: after MAP at A, COPY of A to B (same IOAS or another one with
 * a domain), UNMAP of A, a device attached to A's IOAS still reads and
 * writes the pages at A. When B is unmapped too the pages lose their last
 * pin while A's IOVA still points at them: once the user frees the memory
 * the frames go back to the allocator and the device's DMA at A reaches
 * whoever gets them next. A later MAP at A fails in the domain (the IOVA is
 * occupied).
 *
 * Applied on IOMMU_IOAS_UNMAP through a copy of the reference's unmap walk
 * (_unmap.ts). The storage domain is the IOAS's first domain (the kernel's
 * xa_load(&iopt->domains, 0) for an area filled while it was there); every
 * other domain is unmapped in full as iopt_area_unfill_domains does. A page
 * is "used elsewhere" when another holder still holds it (holders > 1).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioptAreaUnmapDomain, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { unmapHandler, type Unfill } from './_unmap.ts';

/** iopt_area_unfill_domains with the residual unmap of the storage domain lost. */
const unfill: Unfill = (iopt, area, pages) => {
  if (!area.filled) return;
  const storage = iopt.domains[0];
  for (const domain of iopt.domains) if (domain !== storage) ioptAreaUnmapDomain(area, domain);
  if (storage) {
    // __iopt_area_unfill_domain: a hole (a page nobody else holds) is unmapped with a
    // read-ahead to the area's end, which takes the whole area out of the domain.
    let hole = false;
    for (let i = area.firstIndex; i <= area.lastIndex; i++) {
      if ((pages.pinned.get(i)?.holders ?? 0) <= 1) {
        hole = true;
        break;
      }
    }
    if (hole) ioptAreaUnmapDomain(area, storage);
    // THE FAULT: no hole, so unmapped_end_index never moved, and the residual
    // iopt_area_unmap_domain_range() after the loop is gone: the area stays mapped.
  }
  ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
  area.filled = false;
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unfill-shared-residual-unmap-lost', profile, {
    handlers: { IOMMU_IOAS_UNMAP: unmapHandler(unfill) },
  });
}
