/**
 * L6 — pgsize-ignores-oa (generic_pt pt_compute_best_pgsize / iommu_pgsize).
 *
 * The best page size for a run must be aligned in both the IOVA and the
 * physical (output) address: iommu_pgsize merges `paddr | iova`. The fault
 * computes it from the IOVA alone (the OA passed as the IOVA), so a run whose
 * IOVA is more aligned than its PA gets a large or contiguous leaf; the format
 * masks the OA to the leaf size, and the device reaches the physical page(s)
 * before the buffer. Applied to every generic_pt / io-pgtable table of the
 * instance's paging domains as an own-property bestPgsize.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pgsize-ignores-oa', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt) return;
      patchOwn(pt, 'bestPgsize', (orig) => (va: number, last: number, _oa: number) => orig(va, last, va));
    },
  });
}
