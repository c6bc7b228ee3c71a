/**
 * Round 5b fault (drivers/iommu/intel/iommu.c intel_iommu_tlb_sync →
 * cache_tag_flush_range(domain, start, end, ih)).
 *
 * The invalidation hint of a page-selective IOTLB invalidation says whether
 * the paging-structure caches may be kept: IH=1 ("only leaves changed") is
 * correct only when the unmap freed no page table, so the driver passes
 * ih = list_empty(&gather->freelist). The fault inverts the test
 * (!list_empty): an unmap that frees a leaf table (a range covering a whole
 * 2 MiB span of 4 KiB leaves) is flushed with IH=1 and the walk cache keeps
 * the (tag, 2 MiB span) → freed table entry, while an unmap that frees
 * nothing over-invalidates (harmless). The freed page goes back to the
 * allocator; when it becomes the leaf table of another 2 MiB span (the next
 * table allocation takes it), a device access to the unmapped IOVA hits the
 * stale walk-cache entry, indexes the reused table and reaches the memory
 * mapped at the other span: DMA through an unmapped IOVA (the class of the
 * IH/"flush the paging-structure cache when freeing page tables" fixes).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-ih-inverted', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'vtd') return;
        // flushGather calls intelFlushRange(tag, start, last, tables ? 0 : 1): THE FAULT flips the hint.
        patchOwn(hw, 'intelFlushRange', (orig) => (did: number, start: number, last: number, ih: number) => orig(did, start, last, ih ^ 1));
      }),
  });
}
