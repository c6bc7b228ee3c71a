/**
 * Shared by the faults in 6.12 VT-d's dma_pte_clear_level()
 * (drivers/iommu/intel/iommu.c, reached from intel_iommu_unmap_pages →
 * domain_unmap for every unmap of a 6.12 VT-d paging domain): a copy of the
 * reference's clearLevel with two steps — whether a fully covered entry is
 * listed as a table to free (the kernel's: `level > 1 && !dma_pte_superpage(pte)`,
 * level counted from 0 here) and where the next iteration starts (the
 * kernel's: `pfn = level_pfn + level_size(level)`). Installed on every 6.12
 * VT-d table (driver intel-612); 7.3 VT-d uses generic_pt.
 */
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { VTDSS_PS } from '../../../impl/pagetable/fmt/vtdss.ts';
import { patchOwn } from '../harness.ts';

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

export interface ClearLevelSteps {
  /** Whether a fully covered present entry `lo` at `level` goes on the free list as a table. */
  readonly listsTable?: (lo: number, level: number) => boolean;
  /** The pfn the next entry's iteration starts at, after the entry at levelPfn (the walk's pfn was `pfn`). */
  readonly nextPfn?: (levelPfn: number, pfn: number, span: number) => number;
}

const kernelListsTable = (lo: number, level: number): boolean => level > 0 && (lo & VTDSS_PS) === 0;
const kernelNextPfn = (levelPfn: number, _pfn: number, span: number): number => levelPfn + span;

/** Has this 6.12 VT-d table clear ranges through the given steps (if it is one). */
export function patchClearLevel(pt: IoPageTable, steps: ClearLevelSteps): void {
  if (pt.g.driver !== 'intel-612') return;
  const listsTable = steps.listsTable ?? kernelListsTable;
  const nextPfn = steps.nextPfn ?? kernelNextPfn;
  const t = pt as unknown as IntelTable;
  patchOwn(t, 'clearLevel', (): ClearLevel => (level, table, pfn, startPfn, lastPfn, g) => {
    const u = t.u32;
    const span = 2 ** (9 * level); // pages one entry covers (level_size)
    pfn = Math.max(startPfn, pfn);
    let w = (table >>> 2) + 2 * t.index(pfn * 4096, level);
    const w0 = w;
    do {
      const levelPfn = Math.floor(pfn / span) * span;
      const lo = u[w] as number;
      if ((lo & 3) !== 0) {
        if (startPfn <= levelPfn && lastPfn >= levelPfn + span - 1) {
          if (listsTable(lo, level)) {
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
      pfn = nextPfn(levelPfn, pfn, span);
      w += 2;
    } while (((w >>> 1) & 511) !== 0 && pfn <= lastPfn);
    t.flush(w0 * 4, (w - w0) * 4);
  });
}
