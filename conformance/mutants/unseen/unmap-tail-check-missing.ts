/**
 * Fault J2 — unmap-tail-check-missing.
 *
 * iopt_unmap_iova_range (io_pagetable.c) refuses to cut an area: an area
 * that starts before the range or ends after it makes the unmap fail with
 * ENOENT (`if (area_first < start || area_last > last)`). The fault keeps
 * only the first half of that test: an UNMAP whose range ends inside an
 * area removes the whole area (IOVAs past `iova + length - 1` included),
 * unpins it, and reports the area's full length as unmapped (a length larger
 * than the caller asked for). The class: an IOPT range check that tests one
 * boundary only.
 *
 * Only IOMMU_IOAS_UNMAP is replaced: the shared copy of iommufd_ioas_unmap
 * (_unmap.ts) with the one changed condition. (VFIO type1
 * compat and IOAS destruction keep the reference's walk.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { unmapHandler } from './_unmap.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: `area_first < start || area_last > last` loses its second half.
  const cuts = (areaFirst: bigint, _areaLast: bigint, start: bigint): boolean => areaFirst < start;
  return mutantImplementation('unmap-tail-check-missing', profile, { handlers: { IOMMU_IOAS_UNMAP: unmapHandler(ioptAreaUnfillDomains, cuts) } });
}
