/**
 * intel612-clear-level-lists-superpage — drivers/iommu/intel/iommu.c
 * dma_pte_clear_level() (6.12, the VT-d driver's own page-table code, reached
 * from intel_iommu_unmap_pages → intel_iommu_unmap → domain_unmap for every
 * iommu_unmap of a VT-d domain: IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA, a
 * HWPT leaving its IOAS, the IOAS teardown).
 *
 * When the range being unmapped covers a whole entry, dma_pte_clear_level()
 * clears the entry and, if the entry points to a page table, puts that table
 * (and every table below it) on the gather's free list, to be freed after
 * the IOTLB flush:
 *
 *     if (start_pfn <= level_pfn &&
 *         last_pfn >= level_pfn + level_size(level) - 1) {
 *             if (level > 1 && !dma_pte_superpage(pte))
 *                     dma_pte_list_pagetables(domain, level - 1, pte, freelist);
 *             dma_clear_pte(pte);
 *             ...
 *
 * THE FAULT: the superpage test is dropped from the call site —
 *
 *             if (level > 1)
 *                     dma_pte_list_pagetables(domain, level - 1, pte, freelist);
 *
 * (dma_pte_list_pagetables() skips superpages among the entries it walks, so
 * the test looks redundant; but it never looks at the entry it is handed).
 * An unmap that covers a 2 MiB superpage lists the superpage's output page —
 * the first 4 KiB of the user's data, pinned until a moment before — as a
 * level-1 page table, and intel_iommu_tlb_sync() frees it after the flush
 * (iommu_put_pages_list).
 *
 * Consequence, over several commands and two objects: the unmap itself
 * answers correctly and unpins what it should, but a page of the user's
 * buffer is now on the page allocator's free list while the process still
 * maps it. Its contents are lost (the page is zeroed when it is freed, as
 * the reference's allocator and init_on_free do), and the next page-table
 * page any domain allocates — another map into a fresh 2 MiB region,
 * another IOAS's or another context's attach — is that page: the user's
 * buffer becomes a live IO page table of a domain it may not even own. What
 * the process writes there are PTEs, so a later DMA of that domain's device
 * goes wherever the process points it, and the domain's own maps overwrite
 * the user's data.
 *
 * 6.12 only: 7.3's VT-d domains use the generic_pt page table, whose
 * __unmap_range() frees only PT_ENTRY_TABLE items.
 *
 * Applied as: on every 6.12 VT-d table (intel-612 driver), clearLevel (the
 * model of dma_pte_clear_level) treats a fully covered entry above the leaf
 * level as a table to free whether or not it is a superpage.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { VTDSS_PS } from '../../../impl/pagetable/fmt/vtdss.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

type ClearLevel = (level: number, table: number, pfn: number, startPfn: number, lastPfn: number, g: IotlbGather | null) => void;

/** The IntelLegacyTable internals dma_pte_clear_level uses. */
interface IntelTable {
  clearLevel: ClearLevel;
  index(va: number, level: number): number;
  tablePa(lo: number, hi: number): number;
  freeSubtree(table: number, level: number, g: IotlbGather): void;
  leafBytes(table: number, level: number): number;
  flush(pa: number, bytes: number): void;
  mappedBytes: number;
  readonly u32: Uint32Array;
}

function patchTable(pt: IoPageTable): void {
  const t = pt as unknown as IntelTable;
  patchOwn(t, 'clearLevel', (): ClearLevel => (level, table, pfn, startPfn, lastPfn, g) => {
    const u = t.u32;
    const span = 2 ** (9 * level); // pages one entry covers
    pfn = Math.max(startPfn, pfn);
    let w = (table >>> 2) + 2 * t.index(pfn * 4096, level);
    const w0 = w;
    do {
      const levelPfn = Math.floor(pfn / span) * span;
      const lo = u[w] as number;
      if ((lo & 3) !== 0) {
        if (startPfn <= levelPfn && lastPfn >= levelPfn + span - 1) {
          // THE FAULT: `if (level > 1 && !dma_pte_superpage(pte))` lost its superpage test.
          if (level > 0) {
            const child = t.tablePa(lo, u[w + 1] as number);
            if (g !== null) t.freeSubtree(child, level - 1, g);
            // (accounting only: a superpage is span pages of IOVA however its page is listed)
            t.mappedBytes -= (lo & VTDSS_PS) !== 0 ? span * 4096 : t.leafBytes(child, level - 1);
          } else {
            t.mappedBytes -= span * 4096;
          }
          u[w] = 0;
          u[w + 1] = 0;
        } else if (level > 0) {
          t.clearLevel(level - 1, t.tablePa(lo, u[w + 1] as number), levelPfn, startPfn, lastPfn, g);
        }
      }
      pfn = levelPfn + span;
      w += 2;
    } while (((w >>> 1) & 511) !== 0 && pfn <= lastPfn);
    t.flush(w0 * 4, (w - w0) * 4);
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-clear-level-lists-superpage', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt && pt.g.driver === 'intel-612') patchTable(pt);
    },
  });
}
