/**
 * reader-pin-past-hole (drivers/iommu/iommufd/pages.c pfn_reader_fill_span,
 * reached from iopt_area_fill_domains when IOMMU_IOAS_COPY maps a piece into
 * an IOAS that has domains).
 *
 * The pfn reader walks an area's page indexes as a double span over
 * pages->access_itree and pages->domains_itree: a used span is read from the
 * pages xarray (pinned by an access) or from the storage domain of another
 * area of the same iopt_pages, and only a hole is pinned from the user's mm,
 * bounded by the hole:
 *
 *     if (start_index >= pfns->user.upages_end) {
 *             rc = pfn_reader_user_pin(&pfns->user, pfns->pages, start_index,
 *                                      span->last_hole);
 *
 * pfn_reader_user_pin adds what it pinned to pages->npinned
 * (iopt_pages_add_npinned) and the batch takes every page it pinned, up to
 * upages_end. The fault passes the reader's pfns->last_index instead of
 * span->last_hole: the first hole's pin runs on (up to the upages buffer) over
 * the used spans after it. Those pages get a second pin and are counted a
 * second time in npinned, and the reader, whose batch now reaches past the
 * used span, never reads it from the xarray/domain. Nobody ever drops those
 * pins: when the area goes, __iopt_area_unfill_domain skips the used spans
 * (their other holder still needs them), and the other holder, when it goes,
 * unpins once.
 *
 * Consequence: whenever a copy covers a not-yet-pinned page followed by
 * pages already pinned for the same mapping (the source IOAS has no domain
 * and an access pinned part of it, or an earlier copy of part of it was
 * filled into a domain), every such page is pinned once more and charged
 * once more (pages->npinned → RLIMIT_MEMLOCK, mm->pinned_vm), and that pin
 * and that charge outlive every object: after all is unmapped and closed
 * the memory stays pinned (it cannot be migrated or compacted, a frame the
 * user munmaps is never freed) and the user's locked_vm stays charged, so
 * repeated copies run the user out of RLIMIT_MEMLOCK.
 *
 * Applied where IOMMU_IOAS_COPY fills the destination's domains, through a
 * copy of iopt_map_pages (_map.ts) whose iopt_fill_domains_pages uses a
 * faulty reader. (IOMMU_IOAS_MAP makes a fresh iopt_pages with nothing used,
 * where the fault changes nothing; a domain attached later, iopt_fill_domain,
 * keeps the reference's reader. A fill that fails gives the extra pins back
 * here with the rest.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, ENOMEM } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { areaFillDomainsWith, fillDomainsPagesWith, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

const P = BigInt(PAGE_SIZE);
/** The pages pfn_reader_user_pin can pin in one call (the reference's PIN_BATCH). */
const PIN_BATCH = 512;

/**
 * The faulty reader's pins for [start, last] of `pages`, one hold per index
 * (as ioptPagesHold(…, 'later')); returns the extra pins it took over used
 * indexes, or a negative errno with nothing held.
 */
function readerHold(pages: IoptPages, start: number, last: number): { errno: number; extra: number[] } {
  const proc = pages.proc;
  const fresh = new Map<number, number>();
  const extra: number[] = [];
  const dropAll = (): void => {
    for (const pfn of fresh.values()) proc.unpinUserPage(pfn);
    for (const pfn of extra) proc.unpinUserPage(pfn);
  };
  let checkedFaults = false;
  let upagesEnd = start; // exclusive: what the last pin covered
  for (let i = start; i <= last; i++) {
    if (pages.pinned.has(i)) continue; // a used span: from the xarray or a domain
    if (i < upagesEnd) continue; // a hole the earlier pin already ran over
    if (!checkedFaults) {
      checkedFaults = true;
      if (proc.faults.shouldFail()) return { errno: -ENOMEM, extra: [] }; // temp_kmalloc of upages
      if (proc.faults.shouldFail()) return { errno: -EFAULT, extra: [] }; // pfn_reader_user_pin's fail site
    }
    // THE FAULT: pin from the hole to the reader's last index, not to span->last_hole.
    const end = Math.min(last, i + PIN_BATCH - 1);
    let j = i;
    for (; j <= end; j++) {
      const r = proc.pinUserPages(pages.uptr + BigInt(j) * P, 1, pages.writable);
      if (r.errno !== 0 || !('pfns' in r)) break;
      if (pages.pinned.has(j)) extra.push(r.pfns[0]!);
      else fresh.set(j, r.pfns[0]!);
    }
    if (j === i) {
      // Nothing pinned at the hole itself: pin_user_pages fails (EFAULT).
      dropAll();
      return { errno: -EFAULT, extra: [] };
    }
    upagesEnd = j; // GUP pins a prefix when a later page faults
    i = j - 1;
  }
  // The holds, as the reference's ioptPagesHold takes them; npinned counts every pin taken.
  for (let i = start; i <= last; i++) {
    const cur = pages.pinned.get(i);
    if (cur) cur.holders++;
    else pages.pinned.set(i, { pfn: fresh.get(i)!, holders: 1 });
  }
  pages.npinned += fresh.size + extra.length;
  return { errno: 0, extra };
}

/** Give a failed fill's pins back, extra ones included (the reference's out_unpin, then the extras). */
function readerRelease(pages: IoptPages, start: number, last: number, extra: readonly number[]): void {
  pages.npinned -= extra.length;
  ioptPagesRelease(pages, start, last);
  for (const pfn of extra) pages.proc.unpinUserPage(pfn);
}

/** iopt_fill_domains_pages → iopt_area_fill_domains over the faulty reader (pfn_reader_update_pinned charges the extra pins too). */
const fillDomains = fillDomainsPagesWith(
  areaFillDomainsWith({
    hold: (pages, first, last) => {
      const held = readerHold(pages, first, last);
      return { errno: held.errno, release: () => readerRelease(pages, first, last, held.extra) };
    },
  }),
);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('reader-pin-past-hole', profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages: mapPagesWith({ fillDomains }) }) },
  });
}
