/**
 * Fault J3 — unfill-storage-domain-only.
 *
 * iopt_area_unfill_domains (pages.c) must unmap an area from every domain of
 * the IOAS (the xa_for_each over iopt->domains, skipping the storage domain)
 * and then unmap the storage domain and unpin (iopt_area_unfill_domain). The
 * fault loses the loop over the other domains: the area is unmapped from the
 * storage domain (the first domain, which pinned the pages) only, and the
 * pages are unpinned while every other domain of the IOAS still maps them.
 * A device attached through a second HWPT of the IOAS keeps reaching frames
 * the process no longer has pinned (a stale PTE in all but one domain).
 *
 * Applied to IOMMU_IOAS_UNMAP (a copy of the reference's unmap walk, _unmap.ts,
 * with this teardown).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioptAreaUnmapDomain, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { unmapHandler, type Unfill } from './_unmap.ts';

const unfill: Unfill = (iopt, area, pages) => {
  if (!area.filled) return;
  // THE FAULT: only the storage domain; `xa_for_each(&iopt->domains, ...) if (domain != storage) unmap` is gone.
  const storage = iopt.domains[0];
  if (storage) ioptAreaUnmapDomain(area, storage);
  ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
  area.filled = false;
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unfill-storage-domain-only', profile, { handlers: { IOMMU_IOAS_UNMAP: unmapHandler(unfill) } });
}
