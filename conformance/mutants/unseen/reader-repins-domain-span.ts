/**
 * reader-repins-domain-span (drivers/iommu/iommufd/pages.c pfn_reader_fill_span,
 * reached from iopt_area_fill_domain — a second domain added to an IOAS with
 * maps, or a first one over pages another IOAS's domain holds — and
 * iopt_area_fill_domains — IOMMU_IOAS_COPY into an IOAS with a domain of
 * pages a domain already holds).
 *
 * The pfn reader takes each span of an area's pages from the tier that
 * already holds it: the access xarray, then a domain, then the mm. For a span
 * a domain holds it reads the PFNs back out of that area's storage domain and
 * pins nothing:
 *
 *     if (span->is_used == 2) {
 *             /*
 *              * Pull as many pages from the first domain we find in the
 *              * target span. If it is too small then we will be called again
 *              * and we'll find another area.
 *              *\/
 *             area = iopt_pages_find_domain_area(pfns->pages, start_index);
 *             if (WARN_ON(!area))
 *                     return -EINVAL;
 *
 *             /* The storage_domain cannot change without the pages mutex *\/
 *             batch_from_domain(
 *                     &pfns->batch, area->storage_domain, area, start_index,
 *                     min(iopt_area_last_index(area), span->last_used));
 *             return 0;
 *     }
 *
 *     if (start_index >= pfns->user.upages_end) {
 *             rc = pfn_reader_user_pin(&pfns->user, pfns->pages, start_index,
 *                                      span->last_hole);
 *
 * The fault: the `is_used == 2` branch is lost ("reading PFNs back out of an
 * IOMMU page table is slow; GUP is fast"), so a span held only by a domain
 * falls through to the mm path and is pinned again (iopt_pages_add_npinned,
 * charged by pfn_reader_update_pinned). That pin is never given back: the
 * unpinners (__iopt_area_unfill_domain, iopt_pages_unfill_xarray,
 * pfn_reader_unpin) skip a span another area still covers and unpin a hole
 * once, so each such read leaves the page pinned, and charged to
 * locked_vm/pinned_vm, for ever (iopt_release_pages WARNs on npinned).
 *
 * Only a second object shows it: the domain that already holds the pages is
 * another HWPT on the same IOAS (every page of every area is read from the
 * storage domain when a second domain is filled), or the source of an
 * IOAS_COPY into an IOAS with a device. A single domain per IOAS and copies
 * into IOASes without domains behave. Spans an access holds are still read
 * from the xarray (the first tree wins).
 *
 * Applied where the model fills domains: a domain being added to an IOAS
 * (iopt_table_add_domain → iopt_fill_domain: each area's first map into it
 * re-pins the indexes another area's domain holds — all of the area's own
 * once the IOAS already has a domain — and charges them) and
 * IOMMU_IOAS_COPY (iopt_area_fill_domains' pin step, through _map.ts). The
 * slow ACCESS_RW path (iopt_pages_rw_slow) keeps the reference's. On a
 * failed charge the extra pins are dropped again so the reference's own
 * unwind stays balanced (the kernel would leak them there too).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, type IommufdIoas, type IoPagetable, type IoptArea, type IoptDomain, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptPagesCharge, ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { areaFillDomainsWith, fillDomainsPagesWith, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

const P = BigInt(PAGE_SIZE);

/** How many access ranges (access_itree nodes) of the pages cover index i. */
function accessCount(pages: IoptPages, i: number): number {
  return pages.accesses.filter((a) => a.start <= i && i <= a.last).length;
}

/**
 * THE FAULT: the reader's mm path pins again the indexes of [first, last] that a
 * domain holds and no access covers (the holds beyond the accesses' are the
 * filled areas'; `own` of them belong to the area being read, not yet in
 * domains_itree). Returns the frames pinned, or a negative errno (nothing
 * left pinned then).
 */
function repinDomainSpans(pages: IoptPages, first: number, last: number, own: number): number[] | number {
  const extra: number[] = [];
  for (let i = first; i <= last; i++) {
    const cur = pages.pinned.get(i);
    if (!cur) continue;
    const accesses = accessCount(pages, i);
    if (accesses > 0 || cur.holders - own <= 0) continue;
    const r = pages.proc.pinUserPages(pages.uptr + BigInt(i) * P, 1, pages.writable);
    if (r.errno !== 0 || !('pfns' in r)) {
      for (const pfn of extra) pages.proc.unpinUserPage(pfn);
      return -EFAULT;
    }
    extra.push(r.pfns[0]!);
  }
  pages.npinned += extra.length;
  return extra;
}

/** Undo repinDomainSpans (only where a charge failed: see the header). */
function dropExtra(pages: IoptPages, extra: readonly number[]): void {
  pages.npinned -= extra.length;
  for (const pfn of extra) pages.proc.unpinUserPage(pfn);
}

export function createAdapter(profile: Profile): Implementation {
  /** Domains being added to an IOAS (iopt_table_add_domain in progress) → that IOAS, whether it is its first, and the areas read. */
  const adding = new Map<IoptDomain, { iopt: IoPagetable; first: boolean; done: Set<IoptArea> }>();

  // iopt_area_fill_domains for IOMMU_IOAS_COPY: the new area is not in domains_itree while it is read.
  const fillDomains = fillDomainsPagesWith(
    areaFillDomainsWith({
      hold: (pages, first, last) => {
        const held = ioptPagesHold(pages, first, last, 'later');
        if (held.errno) return { errno: held.errno, release: () => {} };
        const extra = repinDomainSpans(pages, first, last, 1);
        if (typeof extra === 'number') {
          ioptPagesRelease(pages, first, last);
          return { errno: extra, release: () => {} };
        }
        return {
          errno: 0,
          release: () => {
            dropExtra(pages, extra);
            ioptPagesRelease(pages, first, last);
          },
        };
      },
    }),
  );
  const mapPages = mapPagesWith({ fillDomains });

  return mutantImplementation('reader-repins-domain-span', profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      // iopt_table_add_domain's first step (the EEXIST walk) opens the fill of `domain`; adding it to the xarray closes it.
      patchOwn(iopt.domains, 'includes', (includes) => (domain: IoptDomain, from?: number) => {
        adding.set(domain, { iopt, first: iopt.domains.length === 0, done: new Set() });
        return includes(domain, from);
      });
      patchOwn(iopt.domains, 'push', (push) => (...items: IoptDomain[]) => {
        for (const d of items) adding.delete(d);
        return push(...items);
      });
    },
    domain: (d) => {
      patchOwn(d, 'map', (map) => (iova: bigint, pa: number, size: number, prot: number) => {
        const fill = adding.get(d);
        if (fill) {
          // iopt_fill_domain → iopt_area_fill_domain: the area this run of batch_to_domain belongs to.
          const area = ioptAreaIterFirst(fill.iopt, iova, iova);
          if (area?.pages && !fill.done.has(area)) {
            fill.done.add(area);
            const pages = area.pages;
            // A first domain: the area's own hold was just taken by the reader and it is not in domains_itree yet.
            const extra = repinDomainSpans(pages, area.firstIndex, area.lastIndex, fill.first ? 1 : 0);
            if (typeof extra === 'number') return extra;
            if (extra.length) {
              // pfn_reader_update_pinned: the new pins are charged with the area's.
              const rc = ioptPagesCharge(pages);
              if (rc) {
                dropExtra(pages, extra);
                return rc;
              }
            }
          }
        }
        return map(iova, pa, size, prot);
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
