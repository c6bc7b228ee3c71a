/**
 * access-remove-count-last-user (drivers/iommu/iommufd/pages.c
 * iopt_area_remove_access, the undo of iopt_area_add_access).
 *
 * area->num_accesses counts every in-kernel access pin of the area — one
 * per iopt_area_add_access, including the fast path that finds an exact
 * iopt_pages_access for the same index range and only bumps its users — and
 * iopt_unmap_iova_range uses it to decide whether the accesses must be told
 * to unpin (iommufd_access_notify_unmap) before the area can go. Its undo is:
 *     access = iopt_pages_get_exact_access(pages, start_index, last_index);
 *     ...
 *     area->num_accesses--;
 *     access->users--;
 *     if (access->users)
 *             goto out_unlock;
 *     interval_tree_remove(&access->node, &pages->access_itree);
 *     iopt_pages_unfill_xarray(pages, start_index, last_index);
 *     kfree(access);
 * The fault moves `area->num_accesses--` below the `if (access->users)`
 * test, into the "last user of this range" tail, as if num_accesses counted
 * iopt_pages_access ranges rather than pins: a pin that shares an exact
 * range with another one is counted in by add_access but never counted out.
 *
 * Consequence: once two pins of the same range (the same access twice, two
 * accesses of the IOAS, or accesses of two IOASes sharing the pages through
 * IOMMU_IOAS_COPY) have come and gone, the area keeps num_accesses > 0 with
 * no access holding anything. Every IOMMU_IOAS_UNMAP that covers it notifies
 * the accesses, which have nothing to unpin, retries and gives up with
 * EDEADLOCK: the user can never unmap that IOVA range again, so the pages
 * stay pinned and mapped in every domain of the IOAS (the devices keep DMA
 * access to memory the user is trying to take back) until the domains
 * leave; destroying the IOAS WARNs (iopt_unmap_all fails) and leaks its
 * areas. VFIO type1 partial unmaps of the area fail too (iopt_area_split
 * refuses an area with accesses).
 *
 * Applied as: the count of each area and the users of each exact access
 * range of its pages are watched (own accessors on the reference's objects,
 * installed between requests); when a remove_access lowers an area's count
 * and then the range's users to a value that is not zero, the area's count
 * is put back — which is what the kernel does with the decrement moved.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import type { IommufdIoas, IoptArea, IoptPages, IoptPagesAccess } from '../../../impl/iommufd/iommufd_private.ts';

export function createAdapter(profile: Profile): Implementation {
  const ioases = new Set<IommufdIoas>();
  const watchedAreas = new WeakSet<IoptArea>();
  const watchedPages = new WeakSet<IoptPages>();
  const watchedRanges = new WeakSet<IoptPagesAccess>();
  /** The area whose num_accesses the running iopt_area_remove_access just lowered (its undo), until users is lowered. */
  let pending: (() => void) | null = null;

  const watchRange = (a: IoptPagesAccess): void => {
    if (watchedRanges.has(a)) return;
    watchedRanges.add(a);
    let users = a.users;
    Object.defineProperty(a, 'users', {
      configurable: true,
      enumerable: true,
      get: () => users,
      set: (v: number) => {
        const undo = pending;
        pending = null;
        // THE FAULT: num_accesses-- only runs when the last user of the exact range goes.
        if (undo && v === users - 1 && v > 0) undo();
        users = v;
      },
    });
  };

  const watchPages = (pages: IoptPages): void => {
    if (watchedPages.has(pages)) return;
    watchedPages.add(pages);
    for (const a of pages.accesses) watchRange(a);
    patchOwn(pages.accesses, 'push', (push) => (...items: IoptPagesAccess[]) => {
      for (const a of items) watchRange(a);
      return push(...items);
    });
  };

  const watchArea = (area: IoptArea): void => {
    if (!watchedAreas.has(area)) {
      watchedAreas.add(area);
      let count = area.numAccesses;
      Object.defineProperty(area, 'numAccesses', {
        configurable: true,
        enumerable: true,
        get: () => count,
        set: (v: number) => {
          pending = v === count - 1 ? () => void count++ : null;
          count = v;
        },
      });
    }
    if (area.pages) watchPages(area.pages);
  };

  const watchAll = (): void => {
    for (const ioas of ioases) for (const area of ioas.iopt.areas) watchArea(area);
  };

  return mutantImplementation('access-remove-count-last-user', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const ioas = obj as IommufdIoas;
      ioases.add(ioas);
      patchOwn(ioas, 'destroy', (destroy) => () => {
        ioases.delete(ioas);
        destroy();
      });
    },
    request: (req, next) => {
      watchAll();
      const res = next(req);
      watchAll();
      return res;
    },
  });
}
