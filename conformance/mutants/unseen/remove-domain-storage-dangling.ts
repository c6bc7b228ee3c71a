/**
 * remove-domain-storage-dangling (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unfill_domain, reached from iopt_table_remove_domain when a paging
 * HWPT of an IOAS that has other HWPTs is destroyed: IOMMU_DESTROY of the
 * HWPT, the last device detaching from an auto domain, a replace away from it).
 *
 * Every populated area of an IOAS with domains has one storage domain: the
 * domain its PFNs are read back from when the area is torn down (its unpin
 * list) or when the same iopt_pages is read again (a new domain being filled,
 * an IOAS_COPY, an access pin). It is the first domain that filled the area.
 * When a domain leaves while others remain, nothing is unpinned; the areas
 * are unmapped from it, and those it was storage for move to a remaining one:
 *
 *     if (iopt->next_domain_id != 0) {
 *             /* Pick an arbitrary remaining domain to act as storage *\/
 *             struct iommu_domain *storage_domain =
 *                     xa_load(&iopt->domains, 0);
 *
 *             for (area = iopt_area_iter_first(iopt, 0, ULONG_MAX); area;
 *                  area = iopt_area_iter_next(area, 0, ULONG_MAX)) {
 *                     ...
 *                     if (area->storage_domain == domain)
 *                             area->storage_domain = storage_domain;
 *                     ...
 *                     iopt_area_unmap_domain(area, domain);
 *             }
 *             return;
 *     }
 *
 * The fault is the test copied from iopt_fill_domain, which sets the storage
 * domain only for an area that has none:
 *
 *                     if (!area->storage_domain)
 *                             area->storage_domain = storage_domain;
 *
 * Every area keeps the departing domain as its storage domain, and the
 * domain is freed right after (iommu_domain_free in __iommufd_hwpt_destroy),
 * its page table already emptied by the iopt_area_unmap_domain() above.
 *
 * Nothing shows while the IOAS keeps its other domains and its areas, nor
 * when the last domain leaves (iopt_unfill_domain's last-domain branch
 * unfills with the leaving domain, not area->storage_domain). It shows when
 * such an area is unmapped while another domain is still attached:
 * iopt_area_unfill_domains() unmaps it from every domain of the IOAS (none is
 * the dangling storage domain), then iopt_area_unfill_domain(area, pages,
 * area->storage_domain) reads the PFNs to unpin back from the freed domain,
 * whose emptied page table gives none of the area's pages: the batch unpins
 * PFN 0 instead, pages->npinned drops and the charge (locked_vm, pinned_vm)
 * is given back, but the user's pages stay pinned — for ever, they belong to
 * no area and no iopt_pages any more.
 *
 * Consequence: after two HWPTs share an IOAS (two devices on incompatible
 * IOMMUs, or IOMMU_HWPT_ALLOC twice) and the first is destroyed, every
 * IOMMU_IOAS_UNMAP / VFIO_IOMMU_UNMAP_DMA of a mapping that existed then
 * leaks the pins of its pages: pin counts stay up after the unmap and after
 * every fd is closed, the frames can never be freed (nor migrated or
 * compacted) while the process's locked memory accounting says they are
 * free, so RLIMIT_MEMLOCK no longer bounds what the process keeps pinned
 * (map, unmap, repeat). (The kernel also unpins page 0 and, for a new domain
 * or a copy reading the same pages, maps PFN 0; the model keeps only the
 * leak.)
 *
 * Applied as: the storage domain of each area is tracked as the kernel keeps
 * it (the domains xarray's index-0 entry when the area is filled, the
 * domain itself for the IOAS's first domain, inherited by the halves of a
 * VFIO type1 split), through the IOAS's domains list and area list; when a
 * domain leaves and others remain, the areas it stored keep it. An
 * IOMMU_IOAS_UNMAP or VFIO_IOMMU_UNMAP_DMA (the shared copies in _unmap.ts)
 * of an area whose storage domain has left unmaps it from the remaining
 * domains and releases its pages' holds without unpinning the user pages.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoPagetable, IoptArea, IoptDomain } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaUnfillDomains, ioptAreaUnmapDomain, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { unmapRange, ioasUnmapWith, vfioUnmapDmaWith, type RangeUnmap, type Unfill } from './_unmap.ts';

export function createAdapter(profile: Profile): Implementation {
  /** iopt->domains in the kernel's xarray order (the tail moves into a freed slot). */
  const xaDomains = new WeakMap<IoPagetable, IoptDomain[]>();
  /** area->storage_domain */
  const storage = new WeakMap<IoptArea, IoptDomain>();
  /** Set while a teardown "unpins" PFNs read from a freed domain: the user pages stay pinned. */
  let unpinsLost = false;

  const domainsOf = (iopt: IoPagetable): IoptDomain[] => {
    let d = xaDomains.get(iopt);
    if (!d) xaDomains.set(iopt, (d = []));
    return d;
  };

  /** Areas filled since the last look got xa_load(&iopt->domains, 0) (iopt_area_fill_domains). */
  const settle = (iopt: IoPagetable): void => {
    const first = domainsOf(iopt)[0];
    for (const area of iopt.areas) {
      if (!area.pages || !area.filled) continue;
      if (!storage.has(area) && first) storage.set(area, first);
    }
  };

  /** iopt_area_unfill_domains for an area whose storage domain may be gone. */
  const unfill: Unfill = (iopt, area, pages) => {
    const st = storage.get(area);
    storage.delete(area);
    if (!area.filled || st === undefined || iopt.domains.includes(st)) {
      ioptAreaUnfillDomains(iopt, area, pages);
      return;
    }
    // Every domain of the IOAS is "not the storage domain": only unmapped.
    for (const domain of iopt.domains) ioptAreaUnmapDomain(area, domain);
    // iopt_area_unfill_domain(area, pages, <freed domain>): the PFNs read back are not the pages'.
    unpinsLost = true;
    try {
      ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
    } finally {
      unpinsLost = false;
    }
    area.filled = false;
  };

  const walk: RangeUnmap = (iopt, start, last, unmapped) => {
    settle(iopt);
    return unmapRange(iopt, start, last, unmapped, unfill);
  };
  const vfioUnmap = vfioUnmapDmaWith(walk);

  return mutantImplementation('remove-domain-storage-dangling', profile, {
    process: (proc) => {
      patchOwn(proc, 'unpinUserPage', (unpin) => (pfn: number) => {
        if (!unpinsLost) unpin(pfn);
      });
    },
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      if (xaDomains.has(iopt)) return;
      domainsOf(iopt);
      // iopt_table_add_domain: xa_store at next_domain_id; the IOAS's first domain is every area's storage.
      patchOwn(iopt.domains, 'push', (push) => (...added: IoptDomain[]) => {
        settle(iopt);
        const d = domainsOf(iopt);
        const wasEmpty = d.length === 0;
        d.push(...added);
        if (wasEmpty && added[0]) for (const area of iopt.areas) if (area.pages && area.filled) storage.set(area, added[0]);
        return push(...added);
      });
      // iopt_table_remove_domain: the tail entry moves into the freed slot, then iopt_unfill_domain.
      patchOwn(iopt.domains, 'splice', (splice) => ((startIndex: number, deleteCount: number, ...items: IoptDomain[]) => {
        const leaving = deleteCount === 1 && items.length === 0 ? iopt.domains[startIndex] : undefined;
        if (leaving) {
          settle(iopt);
          const d = domainsOf(iopt);
          const ix = d.indexOf(leaving);
          if (ix >= 0) {
            const tail = d.pop()!;
            if (ix < d.length) d[ix] = tail;
          }
          if (d.length === 0) {
            for (const area of iopt.areas) storage.delete(area); // last domain: unfilled with `domain`, storage NULL
          }
          // else THE FAULT: `if (!area->storage_domain) area->storage_domain = storage_domain;` —
          // the areas `leaving` stored keep it (correct: storage.set(area, d[0]) for them).
        }
        return splice(startIndex, deleteCount, ...items);
      }) as IoptDomain[]['splice']);
      // iopt_area_split: both halves inherit the area's storage_domain.
      patchOwn(iopt.areas, 'splice', (splice) => ((startIndex: number, deleteCount: number, ...items: IoptArea[]) => {
        if (deleteCount === 1 && items.length === 2) {
          const parent = iopt.areas[startIndex];
          const st = parent ? storage.get(parent) : undefined;
          if (st) for (const half of items) storage.set(half, st);
        }
        return splice(startIndex, deleteCount, ...items);
      }) as IoptArea[]['splice']);
    },
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(walk) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg) },
  });
}
