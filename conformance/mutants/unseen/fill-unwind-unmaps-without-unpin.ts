/**
 * fill-unwind-unmaps-without-unpin (drivers/iommu/iommufd/io_pagetable.c
 * iopt_fill_domain, its out_unfill path; reached from iopt_table_add_domain
 * when the first domain of an IOAS that already has areas cannot be filled).
 *
 * A domain added to an IOAS with maps is filled area by area; for the first
 * domain each area's pages are pinned, charged and the area is put in
 * domains_itree with the domain as its storage. When an area fails (its user
 * memory is gone: EFAULT; the pin would pass RLIMIT_MEMLOCK: ENOMEM; an
 * allocation), every area filled before it is taken back out, and for the
 * first domain that means unpinned:
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
 * The fault: the unwind calls iopt_area_unmap_domain(area, domain) — the
 * "rapid" unmap iopt_unfill_domain() uses when other domains still hold the
 * PFNs — instead of iopt_area_unfill_domain(area, pages, domain). The two are
 * easy to mix up, and for a second domain they do the same thing (the area
 * stays in domains_itree, so unfill unpins nothing). For the first domain the
 * area has just been taken out of domains_itree and its storage cleared, so
 * the pins its fill took are no longer tracked anywhere (not in
 * domains_itree, not in the access xarray) and nobody will ever unpin them:
 * pages->npinned keeps them, locked_vm/pinned_vm stay charged. Pages held by
 * an access or another area are unaffected (the area did not pin them).
 *
 * Observable over several commands and only through a second area: map two
 * buffers into an IOAS without a domain, make the second unpinnable (munmap
 * it, or an RLIMIT_MEMLOCK that lets the first through but not both), attach
 * a device: the attach fails as it should, but the first buffer stays pinned
 * (pin_count 1, pinned_vm/locked_vm not back to 0). A later attach that
 * succeeds pins it a second time, and unmapping the area gives back only that
 * second pin; the charge also counts against the next RLIMIT_MEMLOCK check,
 * so a map+attach the kernel allows can fail with ENOMEM.
 *
 * Applied where the model fills a first domain (iopt_table_add_domain →
 * iopt_fill_domain): the iommu_unmap() of the unwind of an area filled
 * before the failing one is followed by the kernel's state for the fault —
 * the pins that area's fill took stay pinned and charged but are no longer
 * the area's (the pages' tracking forgets them at the end of the ioctl).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import type { IommufdIoas, IoPagetable, IoptDomain, IoptPages } from '../../../impl/iommufd/iommufd_private.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Domains being added to an IOAS (iopt_table_add_domain in progress): the IOAS and whether the domain is its first. */
  const adding = new Map<IoptDomain, { iopt: IoPagetable; first: boolean }>();
  /** Page indexes whose pin the faulty unwind leaves behind, untracked. */
  const orphans: { pages: IoptPages; index: number }[] = [];

  return mutantImplementation('fill-unwind-unmaps-without-unpin', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      // iopt_table_add_domain's first step (the EEXIST walk over the domains) opens the add; storing the domain closes it.
      patchOwn(iopt.domains, 'includes', (includes) => (domain: IoptDomain, from?: number) => {
        adding.set(domain, { iopt, first: iopt.domains.length === 0 });
        return includes(domain, from);
      });
      patchOwn(iopt.domains, 'push', (push) => (...items: IoptDomain[]) => {
        for (const d of items) adding.delete(d);
        return push(...items);
      });
    },
    domain: (d) => {
      patchOwn(d, 'unmap', (unmap) => (iova: bigint, size: number) => {
        const add = adding.get(d);
        if (add?.first) {
          // iopt_fill_domain's out_unfill for an area filled before the failing one: the whole area is
          // taken out of the domain (the failing area's own unwind is partial and the area is not filled).
          const area = add.iopt.areas.find((a) => a.start === iova && a.length === BigInt(size) && a.filled && a.pages);
          if (area) {
            const pages = area.pages!;
            // THE FAULT: iopt_area_unmap_domain() instead of iopt_area_unfill_domain(): what this area's
            // fill pinned (the indexes only it holds) is not unpinned. Keep one more hold on them so the
            // reference's release leaves them pinned and charged; the pages forget them at the end of the ioctl.
            for (let i = area.firstIndex; i <= area.lastIndex; i++) {
              const cur = pages.pinned.get(i);
              if (cur && cur.holders === 1) {
                cur.holders++;
                orphans.push({ pages, index: i });
              }
            }
          }
        }
        return unmap(iova, size);
      });
    },
    request: (req, next) => {
      try {
        return next(req);
      } finally {
        adding.clear(); // an add that failed before its fill never reached push
        // The orphaned pins: still pinned (their frames), still in npinned and charged, but in no tree.
        for (const { pages, index } of orphans) {
          const cur = pages.pinned.get(index);
          if (cur && cur.holders === 1) pages.pinned.delete(index);
        }
        orphans.length = 0;
      }
    },
  });
}
