/**
 * Fault J8 — pt-unmap-covered-by-end (page-table core).
 *
 * generic_pt's __unmap_range (iommu_pt.h) descends into a lower table and,
 * when the unmapped range fully covers that table's span, frees the table and
 * clears the entry that points to it (fully_covered: the range starts at or
 * before the span's first IOVA *and* ends at or after its last). The fault
 * tests the end only: an unmap that starts inside a table's span and runs to
 * (or past) its end frees the whole lower table, with the leaves of other
 * mappings before the unmapped range in it. Those IOVAs silently stop
 * translating (the IOTLB may still hold them: the flush covers the unmapped
 * range only), and a later unmap of them finds an empty entry and unmaps 0
 * bytes, issuing no invalidation, so a cached translation of an area that
 * userspace unmapped (and the kernel unpinned) survives — a table-boundary
 * slip in the page-table walk.
 *
 * Applied to every generic_pt table of the instance's paging domains (7.3:
 * VT-d, AMD, the mock's AMDv1 format) by an own-property copy of the table's
 * unmapLevel (__unmap_range) with the one changed condition (_pt_unmap.ts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { patchUnmapLevel } from './_pt_unmap.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-unmap-covered-by-end', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      // generic_pt only: the 6.12 drivers' own algorithms (io-pgtable-arm, intel/amd legacy) replace unmapNoSync.
      if (!pt || pt.g.driver !== 'generic_pt') return;
      // THE FAULT: `childVa === entryVa &&` is missing.
      patchUnmapLevel(pt, { covered: (_childVa, childLast, _entryVa, entryLast) => childLast === entryLast });
    },
  });
}
