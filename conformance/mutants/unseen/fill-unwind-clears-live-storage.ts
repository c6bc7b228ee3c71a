/**
 * fill-unwind-clears-live-storage (drivers/iommu/iommufd/io_pagetable.c
 * iopt_fill_domain, its out_unfill path; reached from iopt_table_add_domain
 * when a second (third, ...) domain added to an IOAS with areas cannot be
 * filled, e.g. its page table cannot grow half-way through).
 *
 * The unwind takes every area filled before the failing one back out of the
 * new domain. Only when the new domain was the IOAS's first is the area also
 * taken out of domains_itree and its storage domain cleared — otherwise the
 * domains already in the IOAS still hold (and map) the PFNs, and the area's
 * storage is one of them:
 *
 *     out_unfill:
 *             end_area = area;
 *             for (area = iopt_area_iter_first(iopt, 0, ULONG_MAX); area;
 *                  area = iopt_area_iter_next(area, 0, ULONG_MAX)) {
 *                     struct iopt_pages *pages = area->pages;
 *
 *                     if (area == end_area)
 *                             break;
 *                     if (!pages)
 *                             continue;
 *                     mutex_lock(&pages->mutex);
 *                     if (iopt->next_domain_id == 0) {
 *                             interval_tree_remove(&area->pages_node,
 *                                                  &pages->domains_itree);
 *                             area->storage_domain = NULL;
 *                     }
 *                     iopt_area_unfill_domain(area, pages, domain);
 *                     mutex_unlock(&pages->mutex);
 *             }
 *
 * The fault: the `if (iopt->next_domain_id == 0)` guard is lost (the unwind
 * is "made symmetric" with the first-domain fill, which always inserts the
 * area). For a non-first domain the area leaves domains_itree and loses its
 * storage domain although the IOAS's other domains still map it, and
 * iopt_area_unfill_domain(), no longer seeing the area's own node, unpins
 * every page of it nothing else holds.
 *
 * Observable only through the domain that was already there, over several
 * commands: after a failed attach of a second device to an IOAS with maps,
 * the first device still translates and DMAs those IOVAs, but the pages are
 * no longer pinned (pin_count 0, pinned_vm/locked_vm given back) — the
 * device reaches memory the process may unmap and the kernel reuse. Then
 * IOAS_UNMAP of such an area succeeds but iopt_area_unfill_domains() skips an
 * area without a storage domain, so the first device's domain keeps the
 * mapping: it still reads and writes the buffer through an IOVA the IOAS no
 * longer maps. (Destroying that domain later runs the last-domain unfill over
 * areas no longer in domains_itree; the kernel would unpin a second time
 * there, the model leaves them.)
 *
 * Applied where the model fills a domain (iopt_table_add_domain →
 * iopt_fill_domain): the iommu_unmap() of the unwind of an area filled before
 * the failing one, for a domain that is not the IOAS's first, is followed by
 * the fault's unpin and the area loses its storage (not filled). A later
 * domain added to the IOAS fills such an area as the kernel does (the pfn
 * reader finds it in no tree and pins its pages again).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { watchDomainAdds } from './_domain_add.ts';
import { PAGE_SIZE, type IoPagetable, type IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Domains being added to an IOAS (iopt_table_add_domain in progress): the IOAS, whether the domain is its first, and the areas pinned again for it. */
  const { adding, object } = watchDomainAdds((iopt, first) => ({ iopt, first, repinned: new Set<IoptArea>() }));

  /** The area of `iopt` holding `iova`, if any. */
  const areaAt = (iopt: IoPagetable, iova: bigint): IoptArea | undefined => ioptAreaIterFirst(iopt, iova, iova);

  return mutantImplementation('fill-unwind-clears-live-storage', profile, {
    object,
    domain: (d) => {
      patchOwn(d, 'map', (map) => (iova: bigint, pa: number, size: number, prot: number) => {
        const add = adding.get(d);
        if (!add || add.first) return map(iova, pa, size, prot);
        // A later domain filling an area the fault left without storage (pages set, not filled, while
        // the IOAS has domains): the kernel's pfn reader finds the area in no tree and pins its pages
        // from the mm (charged; what an access holds comes from the xarray), then iopt_fill_domain
        // makes the new domain its storage. The fill of an area starts with its first IOVA.
        const area = areaAt(add.iopt, iova);
        if (!area?.pages) return map(iova, pa, size, prot);
        const pages = area.pages;
        let pinnedNow = false;
        if (iova === area.start && !area.filled && !add.repinned.has(area)) {
          const held = ioptPagesHold(pages, area.firstIndex, area.lastIndex);
          if (held.errno) return held.errno;
          add.repinned.add(area);
          area.filled = true;
          pinnedNow = true;
        }
        if (Number.isNaN(pa)) {
          // The run was read before the area was pinned again: its frame now.
          const byte = ioptAreaStartByte(area, iova);
          pa = pages.pinnedPfn(Number(byte / BigInt(PAGE_SIZE)))! * PAGE_SIZE + Number(byte % BigInt(PAGE_SIZE));
        }
        const rc = map(iova, pa, size, prot);
        if (rc && pinnedNow) {
          // iopt_area_fill_domain's own unwind (pfn_reader_release_pins) for the area it failed on.
          add.repinned.delete(area);
          area.filled = false;
          ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
        }
        return rc;
      });
      patchOwn(d, 'unmap', (unmap) => (iova: bigint, size: number) => {
        const ret = unmap(iova, size);
        const add = adding.get(d);
        if (!add || add.first) return ret;
        const area = areaAt(add.iopt, iova);
        if (!area?.pages || area.start !== iova || !area.filled) return ret;
        // Whole: iopt_fill_domain's out_unfill for an area filled before the failing one. THE FAULT:
        // with other domains in the IOAS the area still leaves domains_itree and loses its storage
        // domain, and iopt_area_unfill_domain() unpins what nothing else holds. Part of one pinned
        // again for this add: the area being filled failed half-way, and its own unwind gives its
        // new pins back.
        if (area.length === BigInt(size) || add.repinned.has(area)) {
          add.repinned.delete(area);
          ioptPagesRelease(area.pages, area.firstIndex, area.lastIndex);
          area.filled = false;
        }
        return ret;
      });
    },
    request: (req, next) => {
      try {
        return next(req);
      } finally {
        adding.clear(); // an add that failed before its fill never reached push
      }
    },
  });
}
