/**
 * R22-B1 — intel612-clear-level-pfn-step (drivers/iommu/intel/iommu.c,
 * dma_pte_clear_level(), reached from intel_iommu_unmap() → domain_unmap()
 * for every unmap of a 6.12 VT-d paging domain).
 *
 * dma_pte_clear_level() walks one table level of the range being unmapped.
 * Its first iteration starts at the range's start pfn, which is usually not
 * aligned to the level (pfn = max(start_pfn, pfn)); every later iteration
 * must start at the beginning of the next entry. The kernel (6.12):
 *
 *     do {
 *             unsigned long level_pfn = pfn & level_mask(level);
 *             ...
 *     next:
 *             pfn = level_pfn + level_size(level);
 *     } while (!first_pte_in_page(++pte) && pfn <= last_pfn);
 *
 * THE FAULT: the step is written as its neighbour dma_pte_free_level()
 * writes it (a "make the two walkers alike" cleanup — and exactly the code
 * that the upstream fix "iommu/vt-d: Fix unmap_pages support" had to
 * correct there):
 *
 *     next:
 *             pfn += level_size(level);
 *
 * After a first entry that the range enters part-way, pfn runs ahead of the
 * entries by the start's offset inside that entry. The loop test then ends
 * the walk one entry early whenever the range's last pfn lies in the first
 * (offset) pages of its last entry: those leaves are never cleared. Nothing
 * reports it — intel_iommu_unmap() returns the full size, the gather and the
 * PSI flush cover the whole range, iommufd unpins every page.
 *
 * Why it needs several commands and two objects: an unmap that starts
 * inside a 2 MiB (or 1 GiB) span and ends just past a span boundary — an
 * IOAS area of 4 KiB pages at an IOVA that is not 2 MiB aligned, reaching a
 * few pages into the next 2 MiB — leaves the tail leaves present in the
 * table after IOMMU_IOAS_UNMAP (or the IOAS teardown of that area). The
 * user's pages behind them are unpinned, and the device still reads and
 * writes them through the IOVA the IOAS no longer maps. A later
 * IOMMU_IOAS_MAP of another buffer at that IOVA "succeeds", but
 * __domain_mapping keeps the present entry ("DMA PTE for vPFN ... already
 * set", a WARN and nothing else): the device's DMA to the new area goes to
 * the old, unpinned page of the first buffer, never to the new one.
 *
 * Applied as (6.12 only: 7.3 VT-d uses generic_pt): every 6.12 VT-d paging
 * domain unmaps through a copy of the reference's clearLevel with the
 * faulty step (_intel612_clear.ts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { patchClearLevel } from './_intel612_clear.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-clear-level-pfn-step', profile, {
    // THE FAULT: pfn = level_pfn + level_size(level) became pfn += level_size(level).
    domain: (d) => {
      if (d.hw?.pt) patchClearLevel(d.hw.pt, { nextPfn: (_levelPfn, pfn, span) => pfn + span });
    },
  });
}
