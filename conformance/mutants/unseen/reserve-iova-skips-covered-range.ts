/**
 * reserve-iova-skips-covered-range (drivers/iommu/iommufd/io_pagetable.c
 * iopt_reserve_iova; reached from iopt_table_enforce_dev_resv_regions when a
 * device attaches, from iopt_table_add_domain for a domain's aperture and
 * from IOMMU_TEST_OP_ADD_RESERVED; 6.12 and 7.3).
 *
 * The reserved_itree may hold overlapping ranges: each node records its
 * owner (the device, the domain, NULL for the selftest), and the owner's
 * nodes are what __iopt_remove_reserved_iova drops when it goes (device
 * detach, domain removal). The kernel inserts a node per request:
 *
 *     if (iopt_area_iter_first(iopt, start, last) ||
 *         iopt_allowed_iter_first(iopt, start, last))
 *             return -EADDRINUSE;
 *
 *     reserved = kzalloc(sizeof(*reserved), GFP_KERNEL_ACCOUNT);
 *     if (!reserved)
 *             return -ENOMEM;
 *     reserved->node.start = start;
 *     reserved->node.last = last;
 *     reserved->owner = owner;
 *     interval_tree_insert(&reserved->node, &iopt->reserved_itree);
 *     return 0;
 *
 * THE FAULT: a "dedup" step, added so that every device of a large group
 * re-reserving the very same MSI window does not grow the tree by one node
 * per device: a request already wholly covered by a reserved node is
 * answered 0 without a node of its own.
 *
 *     node = interval_tree_iter_first(&iopt->reserved_itree, start, last);
 *     for (; node; node = interval_tree_iter_next(node, start, last))
 *             if (node->start <= start && node->last >= last)
 *                     return 0;       // "already reserved"
 *
 * Plausible: the result of the check is right at that moment (the range is
 * reserved), and every single-device test passes. But removal is by owner:
 * the covering node belongs to someone else. When that owner goes — the
 * first device of two detaches (another group, or a sibling of its group),
 * the first of two HWPTs with the same aperture is destroyed — the range is
 * released although the second device / domain, still attached to the IOAS,
 * never got a node of its own.
 *
 * Observable, only over several commands and two objects: two devices on one
 * IOAS (x86 devices all carry the MSI window 0xfee00000-0xfeefffff), detach
 * the first: IOMMU_IOAS_IOVA_RANGES no longer lists the window as reserved,
 * IOMMU_IOAS_MAP with FIXED_IOVA into the window succeeds (the kernel:
 * EINVAL) and the second device's domain maps user memory over its own MSI
 * doorbell range; IOMMU_IOAS_ALLOW_IOVAS over the window succeeds (the
 * kernel: EADDRINUSE) — and re-attaching the first device then fails with
 * EADDRINUSE. Likewise for a second domain's aperture tail after the first
 * HWPT with the same aperture is destroyed: IOVAs above the aperture become
 * allocatable.
 *
 * Applied as: each IOAS's reserved list (iopt->reserved_itree) takes an
 * insert that skips a range some node already covers; the kzalloc fault
 * site before the insert is kept where the reference has it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IommufdIoas, ReservedRange } from '../../../impl/iommufd/iommufd_private.ts';

/** The reserved list with THE FAULT in its insert (interval_tree_insert after the dedup test). */
function withDedupInsert(list: ReservedRange[]): ReservedRange[] {
  const push = list.push.bind(list);
  Object.defineProperty(list, 'push', {
    value: (...items: ReservedRange[]): number => {
      for (const r of items) {
        // "already reserved": a node covering [start, last] exists, whoever owns it.
        if (list.some((n) => n.start <= r.start && n.last >= r.last)) continue;
        push(r);
      }
      return list.length;
    },
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return list;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('reserve-iova-skips-covered-range', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      // iopt->reserved_itree: the list is replaced when nodes are removed by owner; every list it holds has the faulty insert.
      let cur = withDedupInsert(iopt.reserved);
      Object.defineProperty(iopt, 'reserved', {
        get: () => cur,
        set: (v: ReservedRange[]) => {
          cur = withDedupInsert(v);
        },
        configurable: true,
        enumerable: true,
      });
    },
  });
}
