/**
 * pfn_reader_fill_span (drivers/iommu/iommufd/pages.c) with one of its tiers
 * lost: a span the reader should take from the access xarray (is_used == 1)
 * or from another area's storage domain (is_used == 2) falls through to the
 * mm path and is pinned again (pfn_reader_user_pin + iopt_pages_add_npinned,
 * charged by pfn_reader_update_pinned). No unpinner ever gives that pin back.
 *
 * Applied where the model fills domains: a domain being added to an IOAS
 * (iopt_table_add_domain → iopt_fill_domain: each area's first map into the
 * new domain re-pins what the fault's tier holds of it, and charges it) and
 * IOMMU_IOAS_COPY (iopt_area_fill_domains' pin step, through _map.ts). The
 * slow ACCESS_RW path (iopt_pages_rw_slow) keeps the reference's. On a failed
 * charge the extra pins are dropped again so the reference's own unwind stays
 * balanced (the kernel would leak them there too).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, type IoptArea, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptPagesCharge, ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { areaFillDomainsWith, fillDomainsPagesWith, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';
import { watchDomainAdds } from './_domain_add.ts';

const P = BigInt(PAGE_SIZE);

/**
 * Whether the lost tier held page index i, so the reader pins it again. `own`:
 * how many of the index's holds are the area's being read, not yet in
 * domains_itree (1 for a copy's new area and for a first domain's fill).
 */
export type LostTier = (pages: IoptPages, i: number, own: number) => boolean;

/** How many access ranges (access_itree nodes) of the pages cover index i. */
export function accessCount(pages: IoptPages, i: number): number {
  return pages.accesses.filter((a) => a.start <= i && i <= a.last).length;
}

/** THE FAULT's mm path over [first, last]: the frames pinned again, or a negative errno (nothing left pinned then). */
function repin(pages: IoptPages, first: number, last: number, own: number, lost: LostTier): number[] | number {
  const extra: number[] = [];
  for (let i = first; i <= last; i++) {
    if (!lost(pages, i, own)) continue;
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

/** Undo repin (only where a charge failed, or the copy's hold is released: see the header). */
function dropExtra(pages: IoptPages, extra: readonly number[]): void {
  pages.npinned -= extra.length;
  for (const pfn of extra) pages.proc.unpinUserPage(pfn);
}

export function readerRepinAdapter(name: string, profile: Profile, lost: LostTier): Implementation {
  /** Domains being added to an IOAS (iopt_table_add_domain in progress) → that IOAS, whether it is its first, and the areas read. */
  const { adding, object } = watchDomainAdds((iopt, first) => ({ iopt, first, done: new Set<IoptArea>() }));

  // iopt_area_fill_domains for IOMMU_IOAS_COPY: the new area is not in domains_itree while it is read.
  const fillDomains = fillDomainsPagesWith(
    areaFillDomainsWith({
      hold: (pages, first, last) => {
        const held = ioptPagesHold(pages, first, last, 'later');
        if (held.errno) return { errno: held.errno, release: () => {} };
        const extra = repin(pages, first, last, 1, lost);
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

  return mutantImplementation(name, profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
    object,
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
            const extra = repin(pages, area.firstIndex, area.lastIndex, fill.first ? 1 : 0, lost);
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
