/**
 * intel612-superpage-flush-leaf-hint (6.12 drivers/iommu/intel/iommu.c
 * switch_to_super_page, reached from __domain_mapping whenever a 2 MiB (or
 * 1 GiB) page is mapped where a lower table already hangs).
 *
 * A 6.12 VT-d unmap never frees a leaf table it does not fully cover, so an
 * IOAS area that used a few 4 KiB pages of a 2 MiB block leaves that block's
 * (now empty) table behind. When a later map puts a superpage there,
 * switch_to_super_page frees the table and must invalidate the paging-
 * structure caches that may still point at it — invalidation hint IH=0:
 *
 *         if (dma_pte_present(pte)) {
 *                 dma_pte_free_pagetable(domain, start_pfn,
 *                                        start_pfn + lvl_pages - 1,
 *                                        level + 1);
 *
 *                 cache_tag_flush_range(domain, start_pfn << VTD_PAGE_SHIFT,
 *                                       end_pfn << VTD_PAGE_SHIFT, 0);
 *         }
 *
 * The fault computes the hint the way intel_iommu_tlb_sync does,
 * `list_empty(&gather->freelist)` — here the empty local free list (or
 * "!freelist" when the helper lost its list argument), since
 * dma_pte_free_pagetable frees the pages itself: IH=1, "only leaves changed".
 *
 * What changes: the PSI keeps the walk-cache (PDE cache) entries of the
 * range. A device that translated through the old table before it emptied
 * (the unmap of its last 4 KiB leaf is correctly a leaf-only, IH=1 flush, so
 * the entry survives) still holds a pointer to the freed table page: after
 * the superpage map its DMA to the new 2 MiB page walks the freed page and
 * faults although IOMMU_IOAS_MAP succeeded and a table walk (translate)
 * finds the mapping; once the page is reused as another table — of this
 * domain or of another one — the device translates the new area's IOVAs
 * through that table instead (another area's or another IOAS's pages).
 * Nothing goes wrong unless a device walked that block before, the block was
 * emptied by unmaps, and a superpage is then mapped over it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { POW2 } from '../../../impl/pagetable/pgsize.ts';
import type { FlushHook, IoPageTable } from '../../../impl/pagetable/table.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IntelLegacyTable internals switch_to_super_page uses (private there, plain at run time). */
interface IntelTable {
  readonly u32: Uint32Array;
  onFlush: FlushHook | null;
  pfnToPte(pfn: number, target: number, alloc: boolean): number;
  freePagetable(startPfn: number, lastPfn: number, retain: number): void;
  switchToSuperPage(startPfn: number, endPfn: number, level: number): void;
}

/** switch_to_super_page with a leaf-only (IH=1) flush of the freed tables' range. */
function switchToSuperPage(t: IntelTable, startPfn: number, endPfn: number, level: number): void {
  const lvlPages = POW2[9 * level] as number;
  if (startPfn % lvlPages !== 0 || (endPfn + 1) % lvlPages !== 0) return; // WARN
  let w = -1;
  while (startPfn <= endPfn) {
    if (w < 0) w = t.pfnToPte(startPfn, level, false);
    if (w < 0) return;
    if (((t.u32[w] as number) & 3) !== 0) {
      t.freePagetable(startPfn, startPfn + lvlPages - 1, level + 2);
      // cache_tag_flush_range(domain, start_pfn << 12, end_pfn << 12, ih): THE FAULT, ih = 1
      // (no table level recorded in the gather: the flush is a leaf-only PSI).
      const g = new IotlbGather();
      g.addRange(startPfn * 4096, (endPfn - startPfn) * 4096 + 1);
      t.onFlush?.(g);
    }
    w += 2;
    startPfn += lvlPages;
    if (((w >>> 1) & 511) === 0) w = -1;
  }
}

function patchTable(pt: IoPageTable): void {
  if (pt.g.driver !== 'intel-612') return;
  const t = pt as unknown as IntelTable;
  patchOwn(t, 'switchToSuperPage', () => (startPfn: number, endPfn: number, level: number) => switchToSuperPage(t, startPfn, endPfn, level));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-superpage-flush-leaf-hint', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt) patchTable(pt);
    },
  });
}
