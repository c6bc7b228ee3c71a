/**
 * allow-iovas-checks-area-tree (drivers/iommu/iommufd/io_pagetable.c
 * iopt_set_allow_iova, reached from IOMMU_IOAS_ALLOW_IOVAS through
 * iommufd_ioas_allow_iovas; 6.12 and 7.3).
 *
 * IOMMU_IOAS_ALLOW_IOVAS promises that IOMMU_IOAS_IOVA_RANGES will never again
 * be narrower than the ranges given: it is refused while any of them meets
 * a reserved range (a domain's space outside its aperture, an attached
 * device's MSI window or other reserved region, a selftest ADD_RESERVED),
 * and from then on iopt_reserve_iova refuses every new reservation that
 * would meet an allowed range (a device attach, a domain with a narrower
 * aperture). Mappings are no obstacle: allowed ranges only steer automatic
 * IOVA allocation, and a range already mapped stays allowed. The new list is
 * swapped in and checked against the reserved tree:
 *
 *     swap(*allowed_iova, iopt->allowed_itree);
 *     for (allowed = iopt_allowed_iter_first(iopt, 0, ULONG_MAX); allowed;
 *          allowed = iopt_allowed_iter_next(allowed, 0, ULONG_MAX)) {
 *             if (iopt_reserved_iter_first(iopt, allowed->node.start,
 *                                          allowed->node.last)) {
 *                     swap(*allowed_iova, iopt->allowed_itree);
 *                     up_write(&iopt->iova_rwsem);
 *                     return -EADDRINUSE;
 *             }
 *     }
 *
 * THE FAULT calls the sibling iterator of the same shape, the one
 * iopt_reserve_iova starts its own check with, and so tests the allowed
 * ranges against the IOAS's areas instead of its reserved ranges:
 *
 *             if (iopt_area_iter_first(iopt, allowed->node.start,
 *                                      allowed->node.last)) {
 *
 * Why it takes several commands and two objects: on an IOAS with nothing
 * mapped and nothing reserved the answer is the same. It differs once
 * earlier commands have put something in the IOAS, and what goes wrong
 * depends on which object put it there:
 *   - after an IOMMU_IOAS_MAP / IOAS_COPY (a VMM that maps guest RAM first and
 *     declares its IOVA window afterwards) the allow is refused with
 *     EADDRINUSE, nothing changed: the allowed list cannot be set over
 *     memory that is already mapped;
 *   - after a device was attached (its MSI window, the domain's space beyond
 *     its aperture) or a range reserved, an allowed range over the reserved
 *     IOVA is accepted: IOVA_RANGES is now narrower than what was allowed,
 *     the promise ALLOW_IOVAS made is broken from the start, and the IOAS is
 *     left in a state the kernel never allows: once that device detaches, it
 *     (or any device with the same window, or a domain with that aperture)
 *     can never be attached to the IOAS again — iopt_reserve_iova refuses
 *     with EADDRINUSE against the allowed range — until the allowed list is
 *     replaced.
 *
 * Applied as: IOMMU_IOAS_ALLOW_IOVAS through a copy of
 * iommufd_ioas_allow_iovas / iommufd_ioas_load_iovas whose iopt_set_allow_iova
 * tests the new ranges against iopt->areas instead of iopt->reserved.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EADDRINUSE } from '../../../impl/lib/errno.ts';
import type { IoPagetable, Range } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { allowIovasWith } from './_allow_iovas.ts';

/** iopt_set_allow_iova with the faulty iterator. */
function setAllowIova(iopt: IoPagetable, allowed: Range[]): number {
  // THE FAULT: iopt_area_iter_first where iopt_reserved_iter_first belongs.
  for (const a of allowed) if (ioptAreaIterFirst(iopt, a.start, a.last)) return -EADDRINUSE;
  iopt.allowed = [...allowed].sort((a, b) => (a.start < b.start ? -1 : 1));
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('allow-iovas-checks-area-tree', profile, {
    handlers: { IOMMU_IOAS_ALLOW_IOVAS: allowIovasWith(setAllowIova) },
  });
}
