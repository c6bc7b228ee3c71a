/**
 * access-fill-xarray-hole-no-xa-end (drivers/iommu/iommufd/pages.c
 * iopt_pages_fill_xarray, reached from iopt_area_add_access for a new
 * access range: IOMMU_TEST_OP_ACCESS_PAGES → iommufd_access_pin_pages, an
 * mdev driver's vfio_pin_pages; 6.12 and 7.3).
 *
 * A new access range is filled span by span: what another access holds is
 * read from the xarray, what a domain holds is read from the domain and
 * stored in the xarray, and the holes are pinned from the mm and stored in
 * the xarray. xa_end remembers how far the xarray has been filled, so that a
 * failure — a later hole that cannot be pinned (-EFAULT: unmapped, PROT_NONE
 * or read-only for a writable map), the RLIMIT_MEMLOCK charge at the end
 * (-ENOMEM), an allocation — can undo exactly what was done:
 *
 *             /* hole *\/
 *             cur_pages = out_pages + (span.start_hole - start_index);
 *             rc = iopt_pages_fill(pages, &user, span.start_hole,
 *                                  span.last_hole, cur_pages);
 *                     (6.12: iopt_pages_fill_from_mm, the same call)
 *             if (rc)
 *                     goto out_clean_xa;
 *             rc = pages_to_xarray(&pages->pinned_pfns, span.start_hole,
 *                                  span.last_hole, cur_pages);
 *             if (rc) { ... goto out_clean_xa; }
 *             xa_end = span.last_hole + 1;
 *     }
 *     rc = pfn_reader_user_update_pinned(&user, pages);
 *     if (rc)
 *             goto out_clean_xa;
 *     ...
 * out_clean_xa:
 *     if (start_index != xa_end)
 *             iopt_pages_unfill_xarray(pages, start_index, xa_end - 1);
 *
 * THE FAULT loses `xa_end = span.last_hole + 1;` in the hole branch (only
 * the domain branch, where the PFNs come from somewhere else, keeps moving
 * it). On success nothing changes. On failure, out_clean_xa only undoes the
 * range up to the last span a domain held: every hole pinned after it stays
 * pinned and stored in the xarray, with no iopt_pages_access node covering
 * it — nothing will ever unpin it. (pages->npinned keeps counting them
 * without a charge, so the next successful pin of these pages bills them to
 * locked_vm/pinned_vm, and uncharges never come back to zero.)
 *
 * When it shows (a failed pin after the setup that makes it fail, and only
 * what later commands and the final close see):
 *   - an access pin refused by the memlock charge (a process without
 *     CAP_IPC_LOCK at map time, RLIMIT_MEMLOCK below the range) on an IOAS
 *     without a domain: ENOMEM as it should, but every page of the range is
 *     left pinned;
 *   - an access pin whose range runs over pages another access already pins
 *     and then a page that cannot be pinned (the user munmapped or
 *     mprotected part of the buffer after mapping it): EFAULT as it should,
 *     but the holes before the pinned span stay pinned;
 *   - with a domain holding the pages past the holes, the unwind reaches
 *     them and nothing leaks: only a domain-less IOAS (the mdev case) or
 *     holes after the domain-held part show it.
 * The leaked pages are pinned (long-term, unmovable) and stay so after the
 * access, the IOAS and every file are closed; a later pin of them pins again.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES through a copy of
 * iommufd_test_access_pages → iommufd_access_pin_pages (_access_pages.ts)
 * whose iopt_area_add_access fills a new range with the reference's pin
 * (ioptPagesHold, then the charge) and, on failure, keeps what the kernel's
 * truncated unwind keeps: after a refused charge, the fresh
 * pins from the last domain-held index on; after a real GUP failure (not an
 * injected one), the holes from there up to the hole that failed, pinned
 * again. The leaked pins are taken out of npinned (the model does not carry
 * the kernel's later over-charge).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, ENOMEM, EPERM } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, type IoptArea, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaAddAccess, ioptPagesCharge, ioptPagesHold } from '../../../impl/iommufd/pages.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { accessPagesHandler, accessPinPagesWith } from './_access_pages.ts';

const P = BigInt(PAGE_SIZE);

/** Whether pin_user_pages(FOLL_LONGTERM [| FOLL_WRITE]) of page `index` of the pages would succeed now. */
function pinnable(pages: IoptPages, index: number): boolean {
  const t = pages.proc.translateVa(pages.uptr + BigInt(index) * P);
  return t !== undefined && t.pfn >= 0 && t.prot.read && (!pages.writable || t.prot.write);
}

/** The maximal runs [s, e] of indices in [start, last] for which `pred` holds, in order. */
function runs(start: number, last: number, pred: (i: number) => boolean): [number, number][] {
  const out: [number, number][] = [];
  for (let i = start; i <= last; i++) {
    if (!pred(i)) continue;
    const s = i;
    while (i < last && pred(i + 1)) i++;
    out.push([s, i]);
  }
  return out;
}

/** iopt_area_add_access over an iopt_pages_fill_xarray with THE FAULT (xa_end not moved past a hole). */
function areaAddAccess(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  const pages = area.pages!;
  if (write && !pages.writable) return err(-EPERM);
  // An exact range already pinned: the fast path, no fill.
  if (pages.accesses.some((a) => a.start === start && a.last === last)) return ioptAreaAddAccess(area, start, last, write);
  if (pages.proc.faults.shouldFail()) return err(-ENOMEM); // kzalloc(access)

  // The spans before the fill: access_itree first, then domains_itree, the rest holes.
  const heldBefore = new Set<number>();
  for (let i = start; i <= last; i++) if (pages.pinned.has(i)) heldBefore.add(i);
  const accessCovered = (i: number): boolean => pages.accesses.some((a) => a.start <= i && i <= a.last);
  // THE FAULT: xa_end moves only past spans a domain held (is_used == 2).
  let xaEnd = start;
  for (let i = start; i <= last; i++) if (heldBefore.has(i) && !accessCovered(i)) xaEnd = i + 1;
  const holes = runs(start, last, (i) => !heldBefore.has(i));

  const faults = pages.proc.faults;
  const injectedBefore = faults.injected;
  const held = ioptPagesHold(pages, start, last, 'later');
  if (held.errno) {
    // A real GUP failure in some hole (an injected one fails before the first hole is pinned): the kernel
    // pinned the holes before it; iopt_pages_fill undid the failing hole, out_clean_xa only [start, xa_end).
    if (held.errno === -EFAULT && faults.injected === injectedBefore) {
      const bad = holes.findIndex(([s, e]) => {
        for (let i = s; i <= e; i++) if (!pinnable(pages, i)) return true;
        return false;
      });
      for (const [s, e] of holes.slice(0, bad < 0 ? 0 : bad)) {
        if (s < xaEnd) continue;
        // Pinned by the fill, never unpinned: leaked (no holder records them).
        pages.proc.pinUserPages(pages.uptr + BigInt(s) * P, e - s + 1, pages.writable);
      }
    }
    return held;
  }
  const rc = ioptPagesCharge(pages); // pfn_reader_user_update_pinned
  if (rc) {
    // out_clean_xa over [start, xa_end - 1] only.
    let dropped = 0;
    for (let i = start; i <= last; i++) {
      const cur = pages.pinned.get(i)!;
      if (heldBefore.has(i)) {
        cur.holders--; // the other holder keeps it (the fill only read it)
        continue;
      }
      pages.pinned.delete(i);
      dropped++;
      if (i < xaEnd) pages.proc.unpinUserPage(cur.pfn); // unfilled: unpinned
      // else: left pinned, in the xarray, covered by no access node — leaked.
    }
    pages.npinned -= dropped;
    return err(rc);
  }
  pages.accesses.push({ start, last, users: 1 });
  area.numAccesses++;
  return ok(held.value!);
}

const testAccessPages = accessPagesHandler({ pinPages: accessPinPagesWith({ addAccess: areaAddAccess }) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-fill-xarray-hole-no-xa-end', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : original(ucmd)),
    },
  });
}

