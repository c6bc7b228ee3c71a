/**
 * map-iova-top-unchecked (drivers/iommu/iommufd/ioas.c iommufd_ioas_map,
 * reached by IOMMU_IOAS_MAP with iova = U64_MAX).
 *
 * The kernel (6.12 and 7.3 alike) refuses the top IOVA and a U64_MAX length
 * before looking at the flags or the IOAS, whether or not FIXED_IOVA is set:
 *
 *     if ((cmd->flags & ~(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
 *                         IOMMU_IOAS_MAP_READABLE)) ||
 *         cmd->__reserved)
 *             return -EOPNOTSUPP;
 *     if (cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX)
 *             return -EOVERFLOW;
 *
 * THE FAULT: the iova half of the test is dropped (`if (cmd->length >=
 * ULONG_MAX)`), on the reasoning that iopt_check_iova's check_add_overflow
 * already catches a range that wraps. It does not catch everything:
 *   - without FIXED_IOVA the iova field is ignored, so a map whose iova is
 *     U64_MAX succeeds (with an automatic IOVA) where the kernel says
 *     -EOVERFLOW;
 *   - with FIXED_IOVA on an IOAS whose iova_alignment is 1 (no domain, no
 *     access, huge pages on) a one-byte map at U64_MAX passes
 *     iopt_check_iova (last = U64_MAX does not overflow) and creates an area
 *     at the very top byte — one that IOMMU_IOAS_UNMAP cannot name again
 *     (its own iova >= ULONG_MAX test refuses it), only unmap-all removes
 *     it — and the user page stays pinned once a domain is attached;
 *   - with an IOVA alignment of a page it answers -EINVAL (alignment)
 *     instead of -EOVERFLOW.
 *
 * Applied as: IOMMU_IOAS_MAP is _map.ts's iommufd_ioas_map without the iova
 * test, over the reference's iopt_map_pages.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ioasMapHandler } from './_map.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: `cmd->iova >= ULONG_MAX ||` is gone from iommufd_ioas_map's EOVERFLOW test.
  return mutantImplementation('map-iova-top-unchecked', profile, { handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ checksIovaTop: false }) } });
}
