/**
 * allow-iovas-checks-old-tree (drivers/iommu/iommufd/io_pagetable.c
 * iopt_set_allow_iova, reached from IOMMU_IOAS_ALLOW_IOVAS,
 * iommufd_ioas_allow_iovas in ioas.c).
 *
 * The allowed ranges of an IOAS are the user's promise of where it will put
 * IOVAs (a VMM's guest memory layout); they may not meet a reserved range
 * (an attached device's MSI window or other reserved region, what lies
 * outside an attached domain's aperture), so that a conflict between the
 * layout and the hardware is reported when it arises. The new tree is
 * swapped in and then checked, and swapped back on a conflict:
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
 * The fault is a rework that checks first and swaps only on success ("no
 * swap back needed"), keeping the iterators — which walk
 * iopt->allowed_itree, i.e. the *old* ranges, not the caller's new tree:
 *
 *     down_write(&iopt->iova_rwsem);
 *     for (allowed = iopt_allowed_iter_first(iopt, 0, ULONG_MAX); allowed;
 *          allowed = iopt_allowed_iter_next(allowed, 0, ULONG_MAX)) {
 *             if (iopt_reserved_iter_first(iopt, allowed->node.start,
 *                                          allowed->node.last)) {
 *                     up_write(&iopt->iova_rwsem);
 *                     return -EADDRINUSE;
 *             }
 *     }
 *     swap(*allowed_iova, iopt->allowed_itree);
 *
 * A check on the wrong object: each IOMMU_IOAS_ALLOW_IOVAS is judged by the
 * list the previous one installed.
 *
 * Consequence, over two commands or more: an allowed list that overlaps a
 * reserved range is accepted (the kernel answers EADDRINUSE): the user's
 * layout silently includes IOVAs the IOAS will never map (fixed maps there
 * fail with EINVAL later, automatic IOVAs skip them), and the allowed and
 * reserved sets now overlap — which every reservation path assumes cannot
 * be. From then on every IOMMU_IOAS_ALLOW_IOVAS fails with EADDRINUSE,
 * whatever it asks — a valid list, or none at all (num_iovas 0, "allow
 * everything") — because the installed list is the one checked: the user
 * cannot correct the layout until the conflicting reservation goes away
 * (its device detaches, its HWPT is destroyed), and automatic IOVAs keep
 * being placed in the rejected-in-spirit ranges instead of the ones the user
 * asked for afterwards. A first allowed list on a fresh IOAS is never
 * refused, so a device attached before the list is set does not protect its
 * reserved regions either.
 *
 * Applied as: IOMMU_IOAS_ALLOW_IOVAS is a copy of the reference's
 * iommufd_ioas_allow_iovas / iommufd_ioas_load_iovas over this
 * iopt_set_allow_iova.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { allowIovasWith } from './_allow_iovas.ts';
import { EADDRINUSE } from '../../../impl/lib/errno.ts';
import type { IoPagetable, Range } from '../../../impl/iommufd/iommufd_private.ts';

/** iopt_set_allow_iova with the check made over the installed tree, before the swap. */
function setAllowIova(iopt: IoPagetable, allowed: Range[]): number {
  // THE FAULT: iopt_allowed_iter_first/_next walk iopt->allowed_itree: the old ranges.
  for (const a of iopt.allowed) if (iopt.reserved.some((r) => r.start <= a.last && r.last >= a.start)) return -EADDRINUSE;
  iopt.allowed = [...allowed].sort((a, b) => (a.start < b.start ? -1 : 1));
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('allow-iovas-checks-old-tree', profile, {
    handlers: { IOMMU_IOAS_ALLOW_IOVAS: allowIovasWith(setAllowIova) },
  });
}
