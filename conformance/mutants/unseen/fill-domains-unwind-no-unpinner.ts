/**
 * fill-domains-unwind-no-unpinner (drivers/iommu/iommufd/pages.c
 * iopt_area_fill_domains, its out_unmap path; reached from iopt_map_pages for
 * IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA on an IOAS with at
 * least one domain; 6.12 and 7.3).
 *
 * A new area is pinned batch by batch and each batch mapped into every domain
 * of the IOAS; the pins are charged (pfn_reader_update_pinned: RLIMIT_MEMLOCK
 * through user->locked_vm or mm->locked_vm, and mm->pinned_vm) only at the
 * end, and a refused charge (-ENOMEM) unwinds through out_unmap. The area is
 * not in pages->domains_itree yet, so the unwind has to pick one domain to
 * read the PFNs back from and unpin them, and only unmap from the others:
 *
 *     out_unmap:
 *             pfn_reader_release_pins(&pfns);
 *             xa_for_each(&area->iopt->domains, unmap_index, domain) {
 *                     ...
 *                     /*
 *                      * The area is not yet part of the domains_itree so we have to
 *                      * manage the unpinning specially. The last domain does the
 *                      * unpin, every other domain is just unmapped.
 *                      *\/
 *                     if (unmap_index != area->iopt->next_domain_id - 1) {
 *                             if (end_index != iopt_area_index(area))
 *                                     iopt_area_unmap_domain_range(
 *                                             area, domain, iopt_area_index(area),
 *                                             end_index - 1);
 *                     } else {
 *                             iopt_area_unfill_partial_domain(area, pages, domain,
 *                                                             end_index);
 *                     }
 *             }
 *
 * THE FAULT names the last domain by the count instead of its index:
 *
 *                     if (unmap_index != area->iopt->next_domain_id) {
 *
 * which no index of the xarray ever equals: every domain is "just unmapped"
 * and no domain unpins. The map still fails with ENOMEM, every domain is
 * still emptied (no stale translation), the charge was never taken — but the
 * pages the reader pinned for the area stay pinned, owned by nothing: for a
 * MAP the iopt_pages is freed with them (iopt_release_pages only WARNs on
 * npinned), for a COPY they stay in the shared iopt_pages' npinned, held by
 * no area and no access.
 *
 * Over several commands, this is RLIMIT_MEMLOCK turned inside out: the one
 * map the limit refuses is the one whose memory stays pinned for good, and it
 * is not charged. A process without CAP_IPC_LOCK that maps past its limit
 * into an IOAS with a device attached (or a VFIO container user with a
 * group set) gets ENOMEM and can retry with the next buffer, and the next:
 * every refused map leaves its pages long-term pinned (unmovable, never
 * freed, not even after munmap or close), while locked_vm and pinned_vm
 * report nothing — unbounded pinned memory for any user allowed to open
 * /dev/iommu. A buffer the user munmaps after the failed map keeps its frames
 * allocated for ever.
 *
 * Applied as: IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and VFIO_IOMMU_MAP_DMA run the
 * shared copies of the map path (_map.ts, _copy.ts) whose
 * iopt_area_fill_domains, when the charge fails after every domain was
 * written, unmaps as the reference does but releases the pins it took
 * without unpinning the user pages (the pages' own bookkeeping is left as the
 * reference keeps it). A failure in a domain's map (only with fault
 * injection) unwinds as the reference does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoPagetable, IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { areaMapDomain, ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { areaFillDomainsWith, fillDomainsPagesWith, ioasMapHandler, mapPagesWith, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Frames whose unpin the faulty unwind never issues (filled only while it releases them). */
  const kept = new Set<number>();
  /** The area iopt_area_fill_domains is filling, and into how many of the IOAS's domains it was written. */
  let current: { iopt: IoPagetable; area: IoptArea; written: number } | null = null;

  const areaFill = areaFillDomainsWith({
    hold: (pages, first, last) => {
      const fresh: number[] = [];
      for (let i = first; i <= last; i++) if (!pages.pinned.has(i)) fresh.push(i);
      const r = ioptPagesHold(pages, first, last, 'later');
      const pfns = r.errno ? [] : fresh.map((i) => pages.pinnedPfn(i)!);
      return {
        errno: r.errno,
        release: () => {
          // out_unmap after pfn_reader_update_pinned() refused the charge: every domain was written.
          const charged = current !== null && current.written === current.iopt.domains.length;
          // THE FAULT: `unmap_index != next_domain_id` for every domain — no iopt_area_unfill_partial_domain(), no unpin.
          if (charged) for (const pfn of pfns) kept.add(pfn);
          try {
            ioptPagesRelease(pages, first, last);
          } finally {
            kept.clear();
          }
        },
      };
    },
    mapDomain: (iopt, area, pages, domain, index) => {
      const rc = areaMapDomain(iopt, area, pages, domain);
      if (!rc && current) current.written = index + 1;
      return rc;
    },
  });

  const fillDomains = fillDomainsPagesWith((iopt, area, pages) => {
    current = { iopt, area, written: 0 };
    try {
      return areaFill(iopt, area, pages);
    } finally {
      current = null;
    }
  });

  const mapPages = mapPagesWith({ fillDomains });
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('fill-domains-unwind-no-unpinner', profile, {
    process: (proc) => {
      kept.clear();
      patchOwn(proc, 'unpinUserPage', (unpin) => (pfn: number) => {
        if (kept.has(pfn)) return;
        unpin(pfn);
      });
    },
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
