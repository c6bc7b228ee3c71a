/**
 * reader-repins-access-span (drivers/iommu/iommufd/pages.c pfn_reader_fill_span,
 * reached from iopt_area_fill_domain — a domain attached to an IOAS that has
 * maps — and iopt_area_fill_domains — IOMMU_IOAS_COPY of pages an in-kernel
 * access already holds into an IOAS with a domain).
 *
 * The pfn reader takes each span of the area's pages from the cheapest tier
 * that already holds it: the access xarray, then a domain, then the mm. The
 * span iterator runs over (access_itree, domains_itree) and the kernel's
 * pfn_reader_fill_span has one branch per tier:
 *
 *     if (span->is_used == 1) {
 *             batch_from_xarray(&pfns->batch, &pfns->pages->pinned_pfns,
 *                               start_index, span->last_used);
 *             return 0;
 *     }
 *
 *     if (span->is_used == 2) {
 *             ...
 *             batch_from_domain(&pfns->batch, area->storage_domain, area, ...);
 *             return 0;
 *     }
 *
 *     if (start_index >= pfns->user.upages_end) {
 *             rc = pfn_reader_user_pin(&pfns->user, pfns->pages, start_index,
 *                                      span->last_hole);
 *
 * The fault: the `is_used == 1` branch is lost (the xarray tier "is only a
 * cache of what the domains hold"), so a span held by an in-kernel access
 * falls through to the mm path and is pinned a second time for the domain
 * (iopt_pages_add_npinned, charged by pfn_reader_update_pinned). Nothing ever
 * takes that second pin back: every unpinner (__iopt_area_unfill_domain,
 * iopt_pages_unfill_xarray, pfn_reader_unpin) skips a span still covered by
 * the other tree and unpins a hole once, so the page keeps one pin — and its
 * locked_vm/pinned_vm charge — for ever (iopt_release_pages then WARNs on
 * npinned). A span held by an access *and* a domain is reported as is_used == 1
 * too (the first tree wins), so every domain filled over an access leaks
 * again.
 *
 * Observable only through two objects: an access (IOMMU_TEST_OP_ACCESS_PAGES)
 * holding pages, then a domain filled over them (a device attached to the
 * IOAS, a HWPT allocated on it, or an IOAS_COPY of the accessed range into an
 * IOAS with a device). pin_count shows the page pinned twice, and after
 * everything is unpinned, unmapped and closed the page stays pinned and
 * pinned_vm (and the user's locked_vm) never return to where they started.
 *
 * Applied where the model fills domains: a domain being added to an IOAS
 * (iopt_table_add_domain → iopt_fill_domain: each area's first map into it
 * re-pins its access-covered pages and charges them) and IOMMU_IOAS_COPY
 * (iopt_area_fill_domains' pin step, through _map.ts). The slow ACCESS_RW path
 * (iopt_pages_rw_slow, also a pfn reader) keeps the reference's. On a failed
 * charge the extra pins are dropped again so the reference's own unwind stays
 * balanced (the kernel would leak them there too).
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

/** Whether page index i of the pages is covered by an in-kernel access (access_itree). */
function accessCovered(pages: IoptPages, i: number): boolean {
  return pages.accesses.some((a) => a.start <= i && i <= a.last);
}

/**
 * THE FAULT: the reader's mm path pins the access-held indexes of [first, last]
 * again (pfn_reader_user_pin + iopt_pages_add_npinned). Returns the frames
 * pinned, or a negative errno (nothing left pinned then).
 */
function repinAccessSpans(pages: IoptPages, first: number, last: number): number[] | number {
  const extra: number[] = [];
  for (let i = first; i <= last; i++) {
    if (!pages.pinned.has(i) || !accessCovered(pages, i)) continue;
    const r = pages.proc.pinUserPages(pages.uptr + BigInt(i) * P, 1, pages.writable);
    if (r.errno !== 0 || !('pfns' in r)) {
      dropExtra(pages, extra);
      return -EFAULT;
    }
    extra.push(r.pfns[0]!);
  }
  pages.npinned += extra.length;
  return extra;
}

/** Undo repinAccessSpans (only used where a charge failed: see the header). */
function dropExtra(pages: IoptPages, extra: readonly number[]): void {
  for (const pfn of extra) pages.proc.unpinUserPage(pfn);
}

export function createAdapter(profile: Profile): Implementation {
  /** Domains being added to an IOAS (iopt_table_add_domain in progress) → that IOAS and the areas already read for it. */
  const adding = new Map<IoptDomain, { iopt: IoPagetable; done: Set<IoptArea> }>();

  // iopt_area_fill_domains for IOMMU_IOAS_COPY: the pin step is the pfn reader's.
  const fillDomains = fillDomainsPagesWith(
    areaFillDomainsWith({
      hold: (pages, first, last) => {
        const held = ioptPagesHold(pages, first, last, 'later');
        if (held.errno) return { errno: held.errno, release: () => {} };
        const extra = repinAccessSpans(pages, first, last);
        if (typeof extra === 'number') {
          ioptPagesRelease(pages, first, last);
          return { errno: extra, release: () => {} };
        }
        return {
          errno: 0,
          release: () => {
            pages.npinned -= extra.length;
            dropExtra(pages, extra);
            ioptPagesRelease(pages, first, last);
          },
        };
      },
    }),
  );
  const mapPages = mapPagesWith({ fillDomains });

  return mutantImplementation('reader-repins-access-span', profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      // iopt_table_add_domain's first step (the EEXIST walk) opens the fill of `domain`; adding it to the xarray closes it.
      patchOwn(iopt.domains, 'includes', (includes) => (domain: IoptDomain, from?: number) => {
        adding.set(domain, { iopt, done: new Set() });
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
            const extra = repinAccessSpans(pages, area.firstIndex, area.lastIndex);
            if (typeof extra === 'number') return extra;
            if (extra.length) {
              // pfn_reader_update_pinned: the new pins are charged with the area's.
              const rc = ioptPagesCharge(pages);
              if (rc) {
                pages.npinned -= extra.length;
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
