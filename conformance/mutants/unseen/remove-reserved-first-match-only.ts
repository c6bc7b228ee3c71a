/**
 * remove-reserved-first-match-only (drivers/iommu/iommufd/io_pagetable.c
 * __iopt_remove_reserved_iova, behind iopt_remove_reserved_iova).
 *
 * The reserved_itree of an IOAS holds one node per reserved range, tagged
 * with its owner: a paging domain reserves what lies outside its aperture
 * (iopt_table_add_domain: [0, aperture_start - 1] and [aperture_end + 1,
 * ULONG_MAX], two nodes when the aperture is in the middle of the space, as
 * the selftest mock's [16 MiB, 2 GiB - 1] is), a device reserves each of its
 * reserved regions (iopt_table_enforce_dev_resv_regions: its MSI window, its
 * RMRR-style regions, the IOMMU unit's own), the selftest's ADD_RESERVED uses
 * owner NULL. Taking an owner's reservations back walks the whole tree:
 *
 *     for (reserved = iopt_reserved_iter_first(iopt, 0, ULONG_MAX); reserved;
 *          reserved = next) {
 *             next = iopt_reserved_iter_next(reserved, 0, ULONG_MAX);
 *
 *             if (reserved->owner == owner) {
 *                     interval_tree_remove(&reserved->node,
 *                                          &iopt->reserved_itree);
 *                     kfree(reserved);
 *             }
 *     }
 *
 * The fault is the "simpler" loop without the `next` cursor, made safe
 * against iterating from a freed node by stopping at the first match — as if
 * every owner held a single range:
 *
 *     for (reserved = iopt_reserved_iter_first(iopt, 0, ULONG_MAX); reserved;
 *          reserved = iopt_reserved_iter_next(reserved, 0, ULONG_MAX)) {
 *             if (reserved->owner == owner) {
 *                     interval_tree_remove(&reserved->node,
 *                                          &iopt->reserved_itree);
 *                     kfree(reserved);
 *                     break;
 *             }
 *     }
 *
 * Only the owner's lowest range goes; the others stay in the tree for good,
 * owned by a domain that has been freed or a device that has left (nothing
 * will ever match them again; they go only with the IOAS).
 *
 * Consequence: state one object leaves behind that later commands on other
 * objects trip over. After a HWPT whose domain has a narrow aperture is
 * destroyed (the mock's: the [2 GiB, ULONG_MAX] node stays), or a device
 * with several reserved regions detaches, or an attach that reserved some of
 * them fails and unwinds, the IOAS keeps refusing those IOVAs although nothing
 * attached needs them any more: IOMMU_IOAS_IOVA_RANGES reports the stale
 * holes, fixed maps and copies there fail with EINVAL, automatic IOVAs never
 * land there, IOMMU_IOAS_ALLOW_IOVAS over them fails with EADDRINUSE, and
 * a later device whose aperture covers them cannot use that space. With one
 * range per owner (a VT-d or AMD domain's single top range, a device with one
 * region) nothing changes.
 *
 * Applied as: on every IOAS's io_pagetable, the reserved list that
 * iopt_remove_reserved_iova stores back (its only writer) keeps every range
 * of the owner but the lowest one.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IommufdIoas, ReservedRange } from '../../../impl/iommufd/iommufd_private.ts';

/** The owner's ranges that __iopt_remove_reserved_iova takes out: only the first in tree (start) order. */
function removeFirstMatchOnly(old: readonly ReservedRange[], next: ReservedRange[]): ReservedRange[] {
  const kept = new Set(next);
  const removed = old.filter((r) => !kept.has(r));
  if (removed.length <= 1) return next;
  // interval_tree_iter_first / _next visit the nodes in start order.
  const first = removed.reduce((a, b) => (b.start < a.start || (b.start === a.start && b.last < a.last) ? b : a));
  // THE FAULT: `break` after the first match.
  return old.filter((r) => r !== first);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('remove-reserved-first-match-only', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      let reserved = iopt.reserved;
      Object.defineProperty(iopt, 'reserved', {
        get: () => reserved,
        set: (v: ReservedRange[]) => {
          reserved = removeFirstMatchOnly(reserved, v);
        },
        configurable: true,
        enumerable: true,
      });
    },
  });
}
