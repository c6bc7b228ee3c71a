/**
 * allow-iovas-checks-lowest-range-only (drivers/iommu/iommufd/io_pagetable.c
 * iopt_set_allow_iova, reached by IOMMU_IOAS_ALLOW_IOVAS).
 *
 * The kernel (6.12 and 7.3 alike) swaps the new allowed tree in and checks
 * every node of it against the reserved tree, swapping back on a hit:
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
 * The fault turns the walk into a test of the first node only
 * (`allowed = iopt_allowed_iter_first(...); if (allowed && iopt_reserved_iter_first(...))`,
 * the iter_next step lost): only the lowest allowed range (the interval tree's
 * first, by start) is checked against the reserved ranges.
 *
 * What a user sees: IOMMU_IOAS_ALLOW_IOVAS with two or more ranges, a range
 * other than the lowest one overlapping a reserved range (a device's
 * reserved/MSI region, the outside of a domain's aperture, a test
 * reservation), succeeds where the kernel answers -EADDRINUSE and keeps the
 * old list. The IOAS is left with an allowed range over reserved IOVA, which
 * the kernel's invariant (allowed ∩ reserved = ∅) forbids: a later reservation
 * of an overlapping region (attaching a device, IOMMU_TEST_OP_ADD_RESERVED)
 * now fails -EADDRINUSE, and automatic IOVAs are sought in the new list.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EADDRINUSE } from '../../../impl/lib/errno.ts';
import type { IoPagetable, Range } from '../../../impl/iommufd/iommufd_private.ts';
import { allowIovasWith } from './_allow_iovas.ts';

/** iopt_set_allow_iova with the walk cut to its first node. */
function setAllowIova(iopt: IoPagetable, allowed: Range[]): number {
  const sorted = [...allowed].sort((a, b) => (a.start < b.start ? -1 : 1));
  const first = sorted[0];
  // THE FAULT: only the first node of the new allowed tree is checked.
  if (first && iopt.reserved.some((r) => r.start <= first.last && r.last >= first.start)) return -EADDRINUSE;
  iopt.allowed = sorted;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('allow-iovas-checks-lowest-range-only', profile, {
    handlers: { IOMMU_IOAS_ALLOW_IOVAS: allowIovasWith(setAllowIova) },
  });
}
