/**
 * Fault J7 — unfill-skips-update-unpinned.
 *
 * __iopt_area_unfill_domain (pages.c) unpins an area's pages (batch_unpin
 * lowers pages->npinned) and then calls update_unpinned(pages), which gives
 * the difference back to RLIMIT_MEMLOCK accounting (user->locked_vm or
 * mm->locked_vm) and mm->pinned_vm and sets last_npinned. The fault drops the
 * update_unpinned() call: the frames are unpinned but stay charged. The
 * charge is only corrected if the same iopt_pages is pinned again (the delta
 * is computed lazily); once the area's iopt_pages is freed it leaks for good,
 * and a process that maps and unmaps in a loop runs into its memlock limit
 * (the class of a missed uncharge on an unpin path).
 *
 * Applied where an area is torn down with the IOAS's domains: IOMMU_IOAS_UNMAP
 * and the IOAS's own destruction (iopt_unmap_all), through a copy of the
 * reference's unmap walk (_unmap.ts). (HWPT removal, iopt_table_remove_domain,
 * keeps the reference's teardown.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { ioptAreaUnmapDomain } from '../../../impl/iommufd/pages.ts';
import { ioptDestroyTable } from '../../../impl/iommufd/io_pagetable.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type IommufdIoas, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { unmapHandler, unmapRange, type Unfill } from './_unmap.ts';

/** ioptPagesRelease without update_unpinned. */
function releaseNoUncharge(pages: IoptPages, start: number, last: number): void {
  let unpinned = 0;
  for (let i = start; i <= last; i++) {
    const cur = pages.pinned.get(i);
    if (!cur) throw new Error(`release of unpinned page index ${i}`);
    cur.holders--;
    if (cur.holders === 0) {
      pages.pinned.delete(i);
      pages.proc.unpinUserPage(cur.pfn);
      unpinned++;
    }
  }
  if (unpinned) pages.npinned -= unpinned; // THE FAULT: update_unpinned(pages) is not called
}

const unfill: Unfill = (iopt, area, pages) => {
  if (!area.filled) return;
  for (const domain of iopt.domains) ioptAreaUnmapDomain(area, domain);
  releaseNoUncharge(pages, area.firstIndex, area.lastIndex);
  area.filled = false;
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unfill-skips-update-unpinned', profile, {
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
