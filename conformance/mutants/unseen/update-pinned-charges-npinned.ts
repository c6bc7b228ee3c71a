/**
 * update-pinned-charges-npinned (drivers/iommu/iommufd/pages.c
 * pfn_reader_user_update_pinned).
 *
 * After the pfn reader has pinned pages, the change in pages->npinned since
 * the last accounting (pages->last_npinned) is charged to RLIMIT_MEMLOCK
 * (user->locked_vm, or mm->locked_vm in the MM mode) and to mm->pinned_vm:
 *     if (pages->npinned == pages->last_npinned)
 *             return 0;
 *     if (pages->npinned < pages->last_npinned) {
 *             npages = pages->last_npinned - pages->npinned;
 *             inc = false;
 *     } else {
 *             if (iommufd_should_fail())
 *                     return -ENOMEM;
 *             npages = pages->npinned - pages->last_npinned;
 *             inc = true;
 *     }
 *     return do_update_pinned(pages, npages, inc, user);
 * The fault charges the total instead of the difference in the increasing
 * branch:
 *             npages = pages->npinned;
 * (the decreasing branch, and do_update_pinned's `last_npinned = npinned`,
 * are unchanged). It only matters when an iopt_pages that already holds
 * pins gets more — which a fresh MAP into an IOAS with a domain never
 * does, so the common path looks right: an access pinning a second range of
 * a mapping, a domain attached to an IOAS where an access already pinned
 * part of a mapping, a COPY into an IOAS with a domain of pages partly
 * pinned elsewhere, a slow-path access read over partly pinned pages.
 *
 * Consequence for a user: every such pin charges the already-pinned pages
 * again. The unpins give back only the real difference, so the excess is
 * never returned: mm->pinned_vm (VmPin) — and user->locked_vm or
 * mm->locked_vm — stay raised after everything is unpinned and closed, and
 * a process under RLIMIT_MEMLOCK gets ENOMEM for pins well within its limit
 * (and eventually for any pin at all).
 *
 * Applied as: each iopt_pages the process creates (IOMMU_IOAS_MAP and the
 * VFIO type1 MAP_DMA, served by copies of the reference's handlers that
 * reach the new iopt_pages before it is first pinned) reads back
 * last_npinned as 0 whenever npinned has grown past it, which is exactly
 * what the faulty `npages = pages->npinned` computes in the reference's
 * pfn_reader_user_update_pinned; the stored value and every other read are
 * the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

const faulty = new WeakSet<IoptPages>();

/** The fault on one iopt_pages: the increase is computed from 0, not from last_npinned. */
function makeFaulty(pages: IoptPages): void {
  if (faulty.has(pages)) return;
  faulty.add(pages);
  let last = pages.lastNpinned;
  Object.defineProperty(pages, 'lastNpinned', {
    configurable: true,
    enumerable: true,
    get: () => (pages.npinned > last ? 0 : last),
    set: (v: number) => {
      last = v;
    },
  });
}

/** iopt_map_pages, with the list's new iopt_pages made faulty before the first pin. */
const mapPages: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
  for (const elm of list) if (elm.pages) makeFaulty(elm.pages);
  return ioptMapPages(iopt, list, length, dstIova, prot, flags);
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('update-pinned-charges-npinned', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: vfioMapDmaHandler({ mapPages }) },
  });
}
