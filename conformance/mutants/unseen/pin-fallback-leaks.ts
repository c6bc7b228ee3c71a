/**
 * Round 6b fault (drivers/iommu/iommufd/pages.c pfn_reader_release_pins,
 * reached from pfn_reader_user_pin's error path).
 *
 * pin_user_pages_fast() pins a batch up to the first page that cannot be
 * pinned (a hole in the VMA, a read-only page for a FOLL_WRITE pin) and
 * returns the count; those pins sit in user->upages until the batch takes
 * them, and the next call fails -EFAULT at the bad page. On that error
 * pfn_reader_release_pins() must unpin the pages GUP pinned that were never
 * transferred to the batch:
 *     if (user->upages_end > pfns->batch_end_index) {
 *             unpin_user_pages(user->upages + ..., npages); ...
 * The fault computes npages as 0 there (upages_start used for upages_end), so
 * the untransferred pins are simply forgotten. IOMMU_IOAS_MAP (or a domain
 * fill, or IOAS_COPY's pin) of a range with a bad page in it fails -EFAULT as
 * it should, but every page before the bad one in the failing batch stays
 * pinned for ever: the frames can never be freed and their pin count does not
 * return to zero even after the memory is munmapped.
 *
 * Applied as: after a multi-page pin fails, the single-page pins the
 * reference makes up to the bad page are recorded; once the bad page fails,
 * the error path's unpins of exactly those frames are dropped.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Frames pinned one by one after a failed batch (the pages GUP would have returned). */
  let pending: number[] | null = null;
  /** Frames whose unpin the faulty error path forgets. */
  const forget = new Map<number, number>();
  return mutantImplementation('pin-fallback-leaks', profile, {
    process: (proc) => {
      patchOwn(proc, 'pinUserPages', (pin) => (va, npages, write) => {
        const r = pin(va, npages, write);
        if (npages > 1) {
          pending = r.errno !== 0 ? [] : null;
          return r;
        }
        if (pending !== null) {
          if (r.errno === 0 && 'pfns' in r) pending.push(...r.pfns);
          else {
            // -EFAULT at the bad page: the error path runs now; the batch's pins are not unpinned.
            for (const pfn of pending) forget.set(pfn, (forget.get(pfn) ?? 0) + 1);
            pending = null;
          }
        }
        return r;
      });
      patchOwn(proc, 'unpinUserPage', (unpin) => (pfn) => {
        const n = forget.get(pfn) ?? 0;
        if (n > 0) {
          // THE FAULT: unpin_user_pages(user->upages + ..., 0)
          if (n === 1) forget.delete(pfn);
          else forget.set(pfn, n - 1);
          return;
        }
        unpin(pfn);
      });
    },
    request: (req, next) => {
      const res = next(req);
      pending = null;
      forget.clear();
      return res;
    },
  });
}
