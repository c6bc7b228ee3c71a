/**
 * remove-domain-unmaps-storage (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unfill_domain, reached from iopt_table_remove_domain when a paging
 * HWPT of an IOAS that keeps other HWPTs goes away: IOMMU_DESTROY of the
 * HWPT, the last device leaving an automatic domain (detach, replace, unbind,
 * close); 6.12 and 7.3).
 *
 * An IOAS with several paging domains (devices behind IOMMUs that cannot
 * share one, or IOMMU_HWPT_ALLOC per device) maps every area into each of
 * them and pins it once; one domain per area, its storage domain, is where
 * the PFNs are read back from. When a domain leaves while others remain,
 * nothing is unpinned: the areas whose storage it was move to a remaining
 * domain, and every area is unmapped from the leaving one:
 *
 *     if (iopt->next_domain_id != 0) {
 *             /* Pick an arbitrary remaining domain to act as storage *\/
 *             struct iommu_domain *storage_domain =
 *                     xa_load(&iopt->domains, 0);
 *
 *             for (area = iopt_area_iter_first(iopt, 0, ULONG_MAX); area;
 *                  area = iopt_area_iter_next(area, 0, ULONG_MAX)) {
 *                     struct iopt_pages *pages = area->pages;
 *                     ...
 *                     mutex_lock(&pages->mutex);
 *                     if (area->storage_domain == domain)
 *                             area->storage_domain = storage_domain;
 *                     ...
 *                     mutex_unlock(&pages->mutex);
 *
 *                     iopt_area_unmap_domain(area, domain);
 *             }
 *             return;
 *     }
 *
 * THE FAULT names the domain to unmap through the area, two lines after the
 * area's storage domain was (possibly) reassigned:
 *
 *                     iopt_area_unmap_domain(area, area->storage_domain);
 *
 * For an area whose storage was the leaving domain that is already the new
 * storage domain; for every other area it is its storage domain, which is
 * also xa_load(domains, 0) (the first domain keeps every area's storage).
 * Either way the unmap hits the remaining domain at index 0 of the xarray,
 * and the leaving domain keeps its IOPTEs until it is freed.
 *
 * Why it takes several commands and two objects: with one domain (the last
 * one leaving takes the other branch) nothing changes. It takes two HWPTs on
 * one IOAS, mappings made while both are there, and the destruction of one
 * of them; the harm then falls on the other HWPT and on later commands:
 *   - every device attached to the remaining (index 0) domain loses the
 *     translations of every IOVA the IOAS had mapped: its DMA faults on
 *     mappings that are still there and still pinned (a new map is fine);
 *   - the areas' storage domain no longer holds them. When such an area is
 *     unmapped (or its last domain leaves), __iopt_area_unfill_domain reads
 *     the PFNs to unpin back from that domain: iommu_iova_to_phys() gives 0
 *     for each page, so PFN 0 is unpinned (a refcount underflow on page 0)
 *     and npinned and the charge go down, while the user's pages stay pinned
 *     for ever, belonging to no area or iopt_pages: pin counts never return
 *     to zero and RLIMIT_MEMLOCK no longer bounds what stays pinned. A domain
 *     attached later, an IOAS_COPY into a domain, an access pin or a slow
 *     access read of such an area read PFN 0 the same way (page 0 mapped or
 *     handed out).
 *
 * Applied as: every paging HWPT's teardown (iommufd_hwpt_paging_destroy, as
 * _hwpt_destroy.ts copies it) removes its domain through a copy of
 * iopt_table_remove_domain that compacts the domains as the xarray does (the
 * tail moves into the removed slot, so index 0 is the kernel's) and, while
 * other domains remain, unmaps each area from index 0 instead of from the
 * leaving domain, remembering the areas (by IOVA range, so a type1 v1 split
 * keeps it) whose storage domain lost them. IOMMU_IOAS_UNMAP and
 * VFIO_IOMMU_UNMAP_DMA (a copy of the unmap walk, _unmap.ts), and the last
 * domain's removal, unpin such an area's pages as the kernel does when it
 * unpins PFN 0 instead: npinned and the charge go down, the frames stay
 * pinned. The reads of PFN 0 by a later domain, copy, access pin or slow
 * read are not modelled (the model hands out the pinned frames). A HWPT
 * aborted before it is published keeps the reference's teardown.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import type { IommufdHwptPaging, IoPagetable, IoptArea, IoptDomain, IoptPages, Range } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptRemoveAccess, ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnmapDomain, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';
import { unmapHandler, unmapRange, vfioUnmapDmaWith, type Unfill } from './_unmap.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Per IOAS: the IOVA ranges of areas whose storage domain no longer maps them. */
  const lost = new WeakMap<IoPagetable, Range[]>();
  /** Set while a release unpins PFN 0 instead of the area's frames. */
  let unpinsPfn0 = false;

  const isLost = (iopt: IoPagetable, area: IoptArea): boolean => (lost.get(iopt) ?? []).some((r) => r.start <= area.start && area.last <= r.last);
  const markLost = (iopt: IoPagetable, area: IoptArea): void => {
    if (isLost(iopt, area)) return;
    lost.set(iopt, [...(lost.get(iopt) ?? []), { start: area.start, last: area.last }]);
  };
  const clearLost = (iopt: IoPagetable, area: IoptArea): void => {
    const out: Range[] = [];
    for (const r of lost.get(iopt) ?? []) {
      if (r.last < area.start || r.start > area.last) {
        out.push(r);
        continue;
      }
      if (r.start < area.start) out.push({ start: r.start, last: area.start - 1n });
      if (r.last > area.last) out.push({ start: area.last + 1n, last: r.last });
    }
    lost.set(iopt, out);
  };

  /** __iopt_area_unfill_domain's unpin: of the area's frames, or (storage lost) of PFN 0 in their stead. */
  const unpin = (iopt: IoPagetable, area: IoptArea, pages: IoptPages): void => {
    const wasLost = isLost(iopt, area);
    clearLost(iopt, area);
    unpinsPfn0 = wasLost;
    try {
      ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
    } finally {
      unpinsPfn0 = false;
    }
  };

  /** iopt_table_remove_domain with the faulty iopt_unfill_domain. */
  const removeDomain = (iopt: IoPagetable, domain: IoptDomain): void => {
    const index = iopt.domains.indexOf(domain);
    if (index < 0) throw new Error('iopt_table_remove_domain: domain not in the table');
    // Compress the xarray: the tail entry moves into the removed slot.
    const tail = iopt.domains.pop()!;
    if (index < iopt.domains.length) iopt.domains[index] = tail;
    if (iopt.domains.length) {
      const storage = iopt.domains[0]!; // xa_load(&iopt->domains, 0)
      for (const area of iopt.areas) {
        if (!area.pages) continue;
        // THE FAULT: iopt_area_unmap_domain(area, area->storage_domain), i.e. index 0, not the leaving domain.
        ioptAreaUnmapDomain(area, storage);
        if (area.filled) markLost(iopt, area);
      }
    } else {
      for (const area of iopt.areas) {
        if (!area.pages) continue;
        ioptAreaUnmapDomain(area, domain);
        if (area.filled) {
          unpin(iopt, area, area.pages);
          area.filled = false;
        }
      }
    }
    ioptRemoveReservedIova(iopt, domain);
    ioptRemoveAccess(iopt, -1); // no slot: only iopt_calculate_iova_alignment
  };

  /** iopt_area_unfill_domains: every domain unmapped, then the storage domain's unpin. */
  const unfill: Unfill = (iopt, area, pages) => {
    if (!area.filled) return;
    for (const d of iopt.domains) ioptAreaUnmapDomain(area, d);
    unpin(iopt, area, pages);
    area.filled = false;
  };

  const vfioUnmap = vfioUnmapDmaWith((iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, unfill));
  return mutantImplementation('remove-domain-unmaps-storage', profile, {
    process: (proc) => {
      patchOwn(proc, 'unpinUserPage', (orig) => (pfn: number) => {
        // unpin_user_page(pfn_to_page(0)): the frame the area had stays pinned.
        if (unpinsPfn0) return;
        orig(pfn);
      });
    },
    handlers: { IOMMU_IOAS_UNMAP: unmapHandler(unfill) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg) },
    object: (obj) => {
      if (obj?.type !== 'HWPT_PAGING') return;
      const hwpt = obj as IommufdHwptPaging;
      patchOwn(hwpt, 'destroy', () => () => hwptPagingDestroy(hwpt, { removeDomain }));
    },
  });
}
