/**
 * allow-iovas-reserved-start-only (drivers/iommu/iommufd/io_pagetable.c
 * iopt_set_allow_iova, reached by IOMMU_IOAS_ALLOW_IOVAS; 6.12 and 7.3 alike).
 *
 * The kernel:
 *
 *     down_write(&iopt->iova_rwsem);
 *     swap(*allowed_iova, iopt->allowed_itree);
 *
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
 * The fault queries the reserved tree at the allowed range's first IOVA only
 * (`iopt_reserved_iter_first(iopt, allowed->node.start, allowed->node.start)`):
 * an allowed range that starts in free space but runs over a reserved range
 * (a device's reserved region, the part of the IOVA space outside an attached
 * domain's aperture, an IOMMU_TEST_OP_ADD_RESERVED range) is accepted.
 *
 * What a user sees: IOMMU_IOAS_ALLOW_IOVAS succeeds where the kernel answers
 * -EADDRINUSE; the allowed and reserved sets then overlap, so a later
 * reservation over the same range (attaching a device, adding a domain)
 * fails with -EADDRINUSE against the allowed range instead.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EADDRINUSE } from '../../../impl/lib/errno.ts';
import type { IoPagetable, Range } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { allowIovasWith } from './_allow_iovas.ts';

/** iopt_set_allow_iova with a point query at each allowed range's start. */
function setAllowIova(iopt: IoPagetable, allowed: Range[]): number {
  for (const a of allowed) {
    // THE FAULT: iopt_reserved_iter_first(iopt, allowed->node.start, allowed->node.start)
    if (iopt.reserved.some((r) => r.start <= a.start && r.last >= a.start)) return -EADDRINUSE;
  }
  iopt.allowed = [...allowed].sort((a, b) => (a.start < b.start ? -1 : 1));
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('allow-iovas-reserved-start-only', profile, {
    handlers: { IOMMU_IOAS_ALLOW_IOVAS: allowIovasWith(setAllowIova) },
  });
}
