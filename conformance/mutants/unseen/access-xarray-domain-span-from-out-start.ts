/**
 * access-xarray-domain-span-from-out-start (drivers/iommu/iommufd/pages.c
 * iopt_pages_fill_xarray, reached from iopt_area_add_access for a new
 * access range: IOMMU_TEST_OP_ACCESS_PAGES → iommufd_access_pin_pages, an
 * mdev driver's vfio_pin_pages; 6.12 and 7.3).
 *
 * One iopt_pages can sit behind areas of several IOASes: IOMMU_IOAS_COPY of
 * a sub-range into another IOAS shares the source's pages, and when that
 * IOAS has a domain those indexes are pinned and held by the copy's area
 * (pages->domains_itree). An access then pinning a range of the source area
 * fills it span by span: holes are pinned from the mm, a span a domain holds
 * is read back from the domain — and each span's PFNs are also stored in
 * pages->pinned_pfns, the xarray every later reader of an access-held index
 * takes its PFN from. Each span works on its own slice of the output array:
 *
 *             if (span.is_used == 2) {
 *                     cur_pages = out_pages + (span.start_used - start_index);
 *                     iopt_pages_fill_from_domain(pages, span.start_used,
 *                                                 span.last_used, cur_pages);
 *                     rc = pages_to_xarray(&pages->pinned_pfns,
 *                                          span.start_used, span.last_used,
 *                                          cur_pages);
 *
 * THE FAULT passes the function's out_pages instead of the span's
 * cur_pages to pages_to_xarray (both are `struct page **` in scope, the
 * other branches differ only in that name):
 *
 *                     rc = pages_to_xarray(&pages->pinned_pfns,
 *                                          span.start_used, span.last_used,
 *                                          out_pages);
 *
 * The pages handed to the driver are right (fill_from_domain wrote them at
 * cur_pages, so the selftest's page check passes), and when the domain span
 * is the first span nothing is wrong at all. But when the range starts
 * before it (a hole, or pages another access pins), the xarray entries of
 * the domain-held indexes get the PFNs of the first pages of the range. The
 * access's pin succeeds; the damage waits in the xarray for as long as an
 * access covers those indexes, and every later reader takes the wrong frames:
 *   - a domain attached afterwards to the access's IOAS (a device, a mock
 *     domain, IOMMU_HWPT_ALLOC), or an IOAS_COPY into an IOAS with a domain,
 *     reads access-held spans from the xarray (pfn_reader_fill_span) and maps
 *     those IOVAs to other pages of the buffer: the device's DMA lands in the
 *     wrong guest memory;
 *   - a second pin of the same range (the exact-range fast path) hands the
 *     driver those wrong pages; a slow-path access read/write copies them;
 *   - when the access lets go after the copy's domain has gone,
 *     iopt_pages_unfill_xarray unpins the PFNs the xarray holds: the first
 *     pages of the range a second time (a refcount underflow) and never the
 *     pages really pinned, which stay pinned for ever.
 *
 * Why it takes several commands and objects: two IOASes sharing one
 * iopt_pages through IOMMU_IOAS_COPY, a domain on the copy's IOAS only, and an
 * access pin on the other one whose range starts before the copied part;
 * the pin itself answers right, and only a later reader (a domain attach, a
 * re-pin, a slow read) or a later release shows the wrong frames.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES and the unpins of the selftest
 * access (accessUnpinHooks in _access_pages.ts) go through an
 * iommufd_access_pin_pages / iommufd_access_unpin_pages whose
 * iopt_area_add_access, after the reference fills a new range, records in
 * the pages' PFN of each index of a domain-held span that does not start the
 * range the PFN of the index as far from the range's start (the xarray entry
 * every reference reader of an access-held index uses); and whose
 * iopt_area_remove_access, when the last pin of a range goes, gives an index
 * no other access covers its true PFN back if a domain still holds it
 * (clear_xarray), and otherwise lets the reference unpin the recorded one.
 * An unpin of a frame nobody pins is recorded as a warning and dropped (the
 * kernel's page refcount underflow).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import type { IoptArea, IoptPages, IoptPagesAccess } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { err, type Result } from '../../../impl/iommufd/object.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { accessPinPagesWith, accessUnpinHooks, accessUnpinPagesWith } from './_access_pages.ts';

/** Per iopt_pages: index → its true PFN, for the indexes whose xarray entry holds a wrong one. */
const misfiled = new WeakMap<IoptPages, Map<number, number>>();

function exactAccess(pages: IoptPages, start: number, last: number): IoptPagesAccess | undefined {
  return pages.accesses.find((a) => a.start === start && a.last === last);
}

const coveredBy = (pages: IoptPages, i: number, except?: IoptPagesAccess): boolean => pages.accesses.some((a) => a !== except && a.start <= i && i <= a.last);

/** iopt_area_add_access over an iopt_pages_fill_xarray with THE FAULT in its domain-span branch. */
function areaAddAccess(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  const pages = area.pages!;
  if (write && !pages.writable) return err(-EPERM);
  if (exactAccess(pages, start, last)) return ioptAreaAddAccess(area, start, last, write); // fast path: no fill
  // Spans before the fill: an index a domain holds is pinned and covered by no access node.
  const domainHeld: boolean[] = [];
  for (let i = start; i <= last; i++) domainHeld.push(pages.pinned.has(i) && !coveredBy(pages, i));
  const r = ioptAreaAddAccess(area, start, last, write);
  if (r.errno) return r;
  const out = r.value!;
  let map = misfiled.get(pages);
  for (let i = start; i <= last; i++) {
    if (!domainHeld[i - start] || (i > start && domainHeld[i - 1 - start])) continue;
    // A domain span [s, e] starting at s: pages_to_xarray(xa, s, e, out_pages) stores out_pages[k] at s + k.
    const s = i;
    if (s === start) continue; // cur_pages == out_pages: the right PFNs
    for (let k = 0; s + k <= last && domainHeld[s + k - start]; k++) {
      const idx = s + k;
      const cur = pages.pinned.get(idx)!;
      if (out[k] === cur.pfn) continue;
      map ??= new Map();
      misfiled.set(pages, map);
      if (!map.has(idx)) map.set(idx, cur.pfn);
      pages.pinned.set(idx, { pfn: out[k]!, holders: cur.holders });
    }
  }
  return r;
}

/** iopt_area_remove_access: when the node goes, iopt_pages_unfill_xarray clears or unpins what the xarray holds. */
function areaRemoveAccess(access: IommufdAccess, area: IoptArea, start: number, last: number): void {
  const pages = area.pages!;
  const exact = exactAccess(pages, start, last);
  if (!exact) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access): no access range [${start}, ${last}]`);
    return;
  }
  const map = misfiled.get(pages);
  if (map && exact.users === 1) {
    for (let i = start; i <= last; i++) {
      const truePfn = map.get(i);
      if (truePfn === undefined || coveredBy(pages, i, exact)) continue; // another access: the entry stays
      const cur = pages.pinned.get(i)!;
      map.delete(i);
      // A domain still holds it: clear_xarray, and readers go back to the domain's (true) PFN.
      if (cur.holders > 1) pages.pinned.set(i, { pfn: truePfn, holders: cur.holders });
      // Otherwise the release below unpins the xarray's PFN (the wrong one); the true frame stays pinned.
    }
  }
  ioptAreaRemoveAccess(area, start, last);
}

export function createAdapter(profile: Profile): Implementation {
  const hooks = accessUnpinHooks({
    pinPages: accessPinPagesWith({ addAccess: areaAddAccess, removeAccess: areaRemoveAccess }),
    unpinPages: accessUnpinPagesWith(areaRemoveAccess),
  });
  return mutantImplementation('access-xarray-domain-span-from-out-start', profile, {
    ...hooks,
    process: (proc, env) => {
      hooks.process?.(proc, env);
      // unpin_user_page of a frame nobody pins: the kernel's refcount underflow (a WARN), recorded and dropped.
      patchOwn(proc, 'unpinUserPage', (unpin) => (pfn: number) => {
        if (proc.pinCountOfPfn(pfn) === 0) {
          proc.warnings.push(`unpin_user_page: frame ${pfn} is not pinned (refcount underflow)`);
          return;
        }
        unpin(pfn);
      });
    },
  });
}
