/**
 * pt-best-pgsize-len-off-by-one (drivers/iommu/generic_pt/pt_iter.h
 * pt_compute_best_pgsize, used by iommu_pt.h's map path to pick the leaf
 * size of each run it installs).
 *
 * The best page size is the largest one that (1) va and oa are both aligned
 * to and (2) is not larger than the length being mapped; both limits are
 * folded into one mask whose lowest set bit bounds the size:
 *
 *     mask = va | oa;
 *     mask |= log2_to_int(vafls(len) - 1);    // 2^floor(log2(len))
 *     best_pgsz_lg2 = vaffs(mask);
 *
 * vafls() is 1-based (fls), so the "- 1" turns it into the exponent of the
 * largest power of two not above len. The fault drops it:
 *
 *     mask |= log2_to_int(vafls(len));
 *
 * which lets a leaf be up to twice the largest power of two in the length:
 * whenever va and oa happen to be aligned to it, the leaf chosen for the
 * last run of a range (or for a short range) is larger than what is left,
 * and __map_range_leaf installs it anyway — the range's last IOVA lies
 * inside it, so the walk stops after it — and the mapping reaches past the
 * end of the range. The 4 KiB single-page fast path does not use the
 * function, so one-page maps on 4 KiB-granule tables are unaffected; runs of
 * several pages are (on AMD v1 and the selftest's AMDv1 mock, which have
 * every power of two as a page size, as soon as the run's tail is aligned to
 * twice its length; on VT-d for runs of 1..2 MiB at a 2 MiB-aligned IOVA/PA).
 *
 * Consequence: IOMMU_IOAS_MAP (or attaching a domain to an IOAS that has
 * such an area) maps, behind the area, IOVAs the IOAS does not map, onto the
 * physical pages that follow the area's last pinned page: the rest of a
 * huge page the user did not map, the next buffer's pages (possibly another
 * process's), page-table pages. A device DMAs there and reads or writes
 * memory nobody pinned for it. The IOAS still believes that IOVA range is
 * free: a later map of an area there fails with EADDRINUSE in the domain,
 * and an unmap returns (and flushes) more than the area.
 *
 * Applied as: every generic_pt paging domain (VT-d second stage, AMD v1 and
 * the 7.3 selftest mock) picks its leaf sizes with the faulty bound; a run
 * whose leaf ends beyond the range installs that one leaf.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { ctz, flsLg2 } from '../../../impl/pagetable/pgsize.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';

/** pt_compute_best_pgsize with the length bound one bit too large. */
function faultyBestPgsizeLg2(sizes: readonly number[], va: number, last: number, oa: number): number {
  if (last < va) return 0;
  const len = last - va + 1;
  let best = flsLg2(len) + 1; // THE FAULT: log2_to_int(vafls(len)) instead of log2_to_int(vafls(len) - 1)
  const a = ctz(va);
  if (a < best) best = a;
  const b = ctz(oa);
  if (b < best) best = b;
  for (let i = sizes.length - 1; i >= 0; i--) {
    const s = sizes[i] as number;
    if (s <= best) return s;
  }
  return 0;
}

/** The map path's private run counter (leaves of the chosen size before the range ends or a larger size fits). */
type RunLength = (va: number, oa: number, remaining: number, lg2: number) => number;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-best-pgsize-len-off-by-one', profile, {
    domain: (d) => {
      const pt = d.hw?.pt as IoPageTable | null | undefined;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const sizes = pt.g.pgsizes;
      patchOwn(pt, 'bestPgsize', () => (va: number, last: number, oa: number) => faultyBestPgsizeLg2(sizes, va, last, oa));
      // __map_range_leaf installs a leaf whose span covers the range's last IOVA even when it
      // reaches beyond it: one leaf, where the count of whole leaves left would be zero.
      const priv = pt as unknown as { runLength: RunLength };
      patchOwn(priv, 'runLength', (runLength) => (va, oa, remaining, lg2) => {
        const n = runLength(va, oa, remaining, lg2);
        return n === 0 && remaining > 0 ? 1 : n;
      });
    },
  });
}
