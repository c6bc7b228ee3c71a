/**
 * unfill-ignores-domains-itree (drivers/iommu/iommufd/pages.c
 * __iopt_area_unfill_domain).
 *
 * One iopt_pages can sit behind several areas: IOMMU_IOAS_COPY makes new
 * areas (in another IOAS, or elsewhere in the same one) over the source's
 * iopt_pages, and each filled area is a node of pages->domains_itree, its
 * PFNs pinned once for all of them. When an area is torn down
 * (iopt_area_unfill_domains, after interval_tree_remove of the area's own
 * pages_node), __iopt_area_unfill_domain unmaps it and unpins only the PFNs
 * nobody else uses, walking both users of an iopt_pages:
 *     interval_tree_for_each_double_span(&span, &pages->domains_itree,
 *                                        &pages->access_itree,
 *                                        start_index, last_index) {
 *             if (span.is_used) { batch_skip_carry(...); continue; }
 *             iopt_area_unpin_domain(...);
 *     }
 * The fault walks only the access_itree — written as if in-kernel accesses
 * were the only other holders of pinned PFNs, forgetting the other areas that
 * IOMMU_IOAS_COPY put on the same iopt_pages:
 *     interval_tree_for_each_span(&span, &pages->access_itree,
 *                                 start_index, last_index) { ... }
 * so the unmap of one area unpins every page not held by an access, while the
 * other areas' domains still map those very pages.
 *
 * Consequence: after IOMMU_IOAS_COPY (both IOASes with a domain) and an
 * IOMMU_IOAS_UNMAP of either copy, the other copy's IOMMU translations point
 * at pages that are no longer pinned (pin counts drop to 0). Once the user
 * unmaps or the kernel migrates/reclaims that memory, the frames go back to
 * the allocator while the device can still DMA to them: it reads and writes
 * whatever the kernel or another process (or buffer) gets those frames next —
 * the use-after-free the comment in the kernel function warns against ("For
 * security we must not unpin something that is still DMA mapped").
 *
 * Applied as: IOMMU_IOAS_UNMAP and the IOAS's own destruction tear areas
 * down through a copy of the reference's unmap walk (_unmap.ts) whose unfill
 * unpins (unpin_user_page) every page of the area no access holds, even if
 * another area still holds it; the iopt_pages keeps its own bookkeeping
 * (npinned, the charge) until its last holder goes, and that holder's unpin
 * of a page already unpinned is dropped (the kernel would unpin twice).
 * HWPT removal keeps the reference's teardown.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { ioptAreaUnmapDomain, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { ioptDestroyTable } from '../../../impl/iommufd/io_pagetable.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type IommufdIoas, type IoptPages, type PinnedPfn } from '../../../impl/iommufd/iommufd_private.ts';
import { unmapHandler, unmapRange, type Unfill } from './_unmap.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Pinned PFN records the fault unpinned while other areas still held them. */
  const early = new WeakSet<PinnedPfn>();
  /** Frames whose next unpin_user_page is the late one of such a record (already unpinned). */
  const stale = new Map<number, number>();
  let unpinFrame: (pfn: number) => void = () => {};

  /** Whether an in-kernel access (access_itree) holds page index i. */
  const accessHolds = (pages: IoptPages, i: number): boolean => pages.accesses.some((a) => a.start <= i && i <= a.last);

  /** iopt_area_unfill_domains with the faulty __iopt_area_unfill_domain. */
  const unfill: Unfill = (iopt, area, pages) => {
    if (!area.filled) return;
    for (const domain of iopt.domains) ioptAreaUnmapDomain(area, domain);
    for (let i = area.firstIndex; i <= area.lastIndex; i++) {
      const cur = pages.pinned.get(i);
      // Another holder besides this area: only the access_itree is consulted.
      if (!cur || cur.holders <= 1 || early.has(cur) || accessHolds(pages, i)) continue;
      // THE FAULT: still mapped by another area's domain (domains_itree), unpinned anyway.
      early.add(cur);
      unpinFrame(cur.pfn);
      stale.set(cur.pfn, (stale.get(cur.pfn) ?? 0) + 1);
    }
    ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
    area.filled = false;
  };

  return mutantImplementation('unfill-ignores-domains-itree', profile, {
    process: (proc) => {
      stale.clear();
      patchOwn(proc, 'unpinUserPage', (orig) => {
        unpinFrame = orig;
        return (pfn: number) => {
          const n = stale.get(pfn) ?? 0;
          if (n > 0) {
            // The last holder's unpin of a page the fault already unpinned.
            if (n === 1) stale.delete(pfn);
            else stale.set(pfn, n - 1);
            return;
          }
          orig(pfn);
        };
      });
    },
    handlers: { IOMMU_IOAS_UNMAP: unmapHandler(unfill) },
    object: (obj, ctx) => {
      if (obj?.type !== 'IOAS') return;
      const ioas = obj as IommufdIoas;
      // iommufd_ioas_destroy: iopt_unmap_all through the same teardown, then the table.
      patchOwn(ioas, 'destroy', () => () => {
        const rc = unmapRange(ioas.iopt, 0n, ULONG_MAX, { bytes: 0n }, unfill);
        if (rc && rc !== -ENOENT) ctx.warnings.push(`iommufd_ioas_destroy: iopt_unmap_all of IOAS ${ioas.id} failed (${rc})`);
        ioptDestroyTable(ioas.iopt);
      });
    },
  });
}
