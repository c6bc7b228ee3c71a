/**
 * unfill-xarray-unpins-domain-span (drivers/iommu/iommufd/pages.c
 * iopt_pages_unfill_xarray, reached from iopt_area_remove_access when the
 * last user of an access range goes: IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, the
 * access's unmap callback during IOMMU_IOAS_UNMAP, the access's destruction;
 * an mdev driver's vfio_unpin_pages).
 *
 * An iopt_pages is pinned once, whoever needs it. When an in-kernel access
 * pins a range, iopt_pages_fill_xarray records every PFN in pages->pinned_pfns,
 * but pins only the holes: the PFNs of a span already held for a domain
 * (pages->domains_itree) are read back from the storage domain, and those of
 * a span held by another access come from the xarray. Undoing it, once the
 * access's node is out of access_itree, must unpin only what nobody else
 * holds and merely forget the PFNs a domain still holds:
 *
 *     interval_tree_for_each_double_span(&span, &pages->access_itree,
 *                                        &pages->domains_itree, start_index,
 *                                        last_index) {
 *             if (!span.is_used) {
 *                     ...
 *                     iopt_pages_unpin_xarray(&batch, pages, span.start_hole,
 *                                             span.last_hole);
 *             } else if (span.is_used == 2) {
 *                     /* Covered by a domain *\/
 *                     clear_xarray(&pages->pinned_pfns, span.start_used,
 *                                  span.last_used);
 *             }
 *             /* Otherwise covered by an existing access *\/
 *     }
 *     ...
 *     update_unpinned(pages);
 *
 * The fault folds the domain case into the hole case — the PFNs "are the
 * access's, it put them in the xarray" (start_hole and start_used share a
 * union, so the range is right):
 *
 *             if (span.is_used == 1)
 *                     continue;       /* covered by an existing access *\/
 *             ...
 *             iopt_pages_unpin_xarray(&batch, pages, span.start_hole,
 *                                     span.last_hole);
 *
 * so the access's unpin also unpins (and uncharges: npinned drops,
 * update_unpinned gives locked_vm / pinned_vm back) every page of its range
 * that a domain still maps.
 *
 * Why it takes several commands and two objects: the IOAS must have a domain
 * (a device or mock domain attached, a HWPT; or, through IOMMU_IOAS_COPY, a
 * domain of another IOAS on the same pages) holding the area, then an access
 * pins part of it and lets it go. Neither the pin nor the domain alone, nor
 * an access on an IOAS without a domain, shows anything.
 *
 * Consequence for a user: after IOMMU_TEST_OP_DESTROY_ACCESS_PAGES the
 * domain still translates the IOVAs to frames that are no longer pinned (pin
 * count 0 where the domain holds them): once the process munmaps or the
 * kernel migrates that memory, the frames go back to the allocator while the
 * device still reads and writes them — another buffer's memory. When the
 * area is later unmapped (or the last domain leaves), the domain teardown
 * unpins those pages a second time; its npinned underflows, update_unpinned
 * WARNs and returns, and the whole area's remaining charge (pinned_vm,
 * locked_vm) is never given back, even after every fd is closed.
 *
 * Applied as: the access range list of every iopt_pages behind an IOAS area
 * (pages->access_itree) is watched; when an access range's last user goes,
 * before the reference releases its hold, every page of the range held by a
 * domain and by no other access is unpinned (unpin_user_page) and uncharged
 * at once. The domain's later release of such a page does not unpin it again
 * (the model cannot unpin twice) and, as the kernel's underflowed npinned
 * makes update_unpinned bail out, gives no charge back.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoPagetable, IoptPages, IoptPagesAccess, PinnedPfn } from '../../../impl/iommufd/iommufd_private.ts';
import type { Process } from '../../../impl/process/process.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** update_unpinned → do_update_pinned(pages, npages, false): give the charge back. */
function uncharge(pages: IoptPages, npages: number): void {
  const proc = pages.proc;
  switch (pages.accountMode) {
    case 'NONE':
      break;
    case 'USER':
      proc.user.lockedVm -= Math.min(npages, proc.user.lockedVm);
      break;
    case 'MM':
      proc.lockedVm -= Math.min(npages, proc.lockedVm);
      break;
  }
  pages.lastNpinned = pages.npinned;
  proc.pinnedVm -= npages;
}

export function createAdapter(profile: Profile): Implementation {
  /** Every IOAS's io_pagetable of the process (to reach the iopt_pages behind its areas). */
  let iopts = new Set<IoPagetable>();
  const watched = new WeakSet<IoptPages>();
  /** Pinned records the fault unpinned while a domain still held them. */
  const early = new WeakSet<PinnedPfn>();
  /** Frames whose next unpin is the domain's second unpin of a page the fault already unpinned, with their pages. */
  const stale = new Map<number, { n: number; readonly pages: IoptPages }>();
  /** iopt_pages whose npinned the domain teardown is about to underflow. */
  const underflow = new WeakSet<IoptPages>();
  let unpinFrame: Process['unpinUserPage'] = () => {};

  /** The faulty iopt_pages_unfill_xarray's extra step, for range [start, last] whose access node just left. */
  const unpinDomainSpans = (pages: IoptPages, start: number, last: number): void => {
    let unpinned = 0;
    for (let i = start; i <= last; i++) {
      const cur = pages.pinned.get(i);
      // cur.holders still counts the leaving access: more than 1 means a domain or another access.
      if (!cur || cur.holders <= 1 || early.has(cur)) continue;
      if (pages.accesses.some((a) => a.start <= i && i <= a.last)) continue; // is_used == 1: another access
      // THE FAULT: is_used == 2 (covered by a domain) is unpinned like a hole.
      early.add(cur);
      unpinFrame(cur.pfn);
      const s = stale.get(cur.pfn);
      if (s) s.n++;
      else stale.set(cur.pfn, { n: 1, pages });
      unpinned++;
    }
    if (!unpinned) return;
    pages.npinned -= unpinned; // batch_unpin → iopt_pages_sub_npinned
    uncharge(pages, unpinned); // update_unpinned
  };

  const watch = (pages: IoptPages): void => {
    if (watched.has(pages)) return;
    watched.add(pages);
    // iopt_area_remove_access: interval_tree_remove(&access->node, &pages->access_itree), then iopt_pages_unfill_xarray.
    patchOwn(pages.accesses, 'splice', (splice) => ((index: number, deleteCount: number, ...items: IoptPagesAccess[]) => {
      const leaving = deleteCount === 1 && items.length === 0 ? pages.accesses[index] : undefined;
      const r = splice(index, deleteCount, ...items);
      if (leaving) unpinDomainSpans(pages, leaving.start, leaving.last);
      return r;
    }) as IoptPagesAccess[]['splice']);
    // The domain teardown's `npinned -= unpinned` underflows in the kernel: update_unpinned WARNs and returns.
    let npinned = pages.npinned;
    Object.defineProperty(pages, 'npinned', {
      configurable: true,
      enumerable: true,
      get: () => npinned,
      set: (v: number) => {
        npinned = v;
        if (underflow.has(pages)) {
          underflow.delete(pages);
          pages.lastNpinned = v; // no uncharge follows
        }
      },
    });
  };

  const watchAll = (): void => {
    for (const iopt of iopts) for (const area of iopt.areas) if (area.pages) watch(area.pages);
  };

  return mutantImplementation('unfill-xarray-unpins-domain-span', profile, {
    process: (proc) => {
      iopts = new Set();
      stale.clear();
      patchOwn(proc, 'unpinUserPage', (orig) => {
        unpinFrame = orig;
        return (pfn: number) => {
          const s = stale.get(pfn);
          if (s) {
            // The domain teardown unpins a page the access already unpinned: not twice.
            if (--s.n === 0) stale.delete(pfn);
            underflow.add(s.pages);
            return;
          }
          orig(pfn);
        };
      });
    },
    object: (obj) => {
      if (obj?.type === 'IOAS') iopts.add((obj as IommufdIoas).iopt);
    },
    // An access range is only made by IOMMU_TEST_OP_ACCESS_PAGES: watch the pages it may take from first.
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        watchAll();
        return original(ucmd);
      },
    },
  });
}
