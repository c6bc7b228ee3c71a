/**
 * Shared by the faults in 6.12 VT-d's switch_to_super_page
 * (drivers/iommu/intel/iommu.c): a copy of the reference's
 * IntelLegacyTable.switchToSuperPage, which clears a block's old tables
 * before a superpage goes over it, with its two steps pluggable — the
 * retain_level handed to dma_pte_free_pagetable and the flush
 * cache_tag_flush_range sends for the block. Installed per table with
 * patchOwn on the own property `switchToSuperPage` (6.12 VT-d tables only).
 */
import { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { POW2 } from '../../../impl/pagetable/pgsize.ts';
import type { FlushHook, IoPageTable } from '../../../impl/pagetable/table.ts';
import { patchOwn } from '../harness.ts';

/** The IntelLegacyTable internals switch_to_super_page uses (private there, plain at run time). */
interface IntelTable {
  readonly u32: Uint32Array;
  onFlush: FlushHook | null;
  pfnToPte(pfn: number, target: number, alloc: boolean): number;
  freePagetable(startPfn: number, lastPfn: number, retain: number): void;
  switchToSuperPage(startPfn: number, endPfn: number, level: number): void;
}

export interface SuperPageSteps {
  /** dma_pte_free_pagetable's retain_level for a superpage at our `level` (the kernel's: VT-d's numbering of it, level + 1, plus one). */
  readonly retain?: (level: number) => number;
  /** What cache_tag_flush_range flushes for [startPfn, endPfn] once the tables under an entry at `level` are freed. */
  readonly flush?: (startPfn: number, endPfn: number, level: number) => IotlbGather;
}

/** cache_tag_flush_range(domain, start_pfn << 12, end_pfn << 12, 0): IH=0, the walk caches drop the freed tables too. */
export function kernelSuperPageFlush(startPfn: number, endPfn: number, level: number): IotlbGather {
  const g = new IotlbGather();
  g.addRange(startPfn * 4096, (endPfn - startPfn) * 4096 + 1);
  g.tableLevels |= 1 << (level - 1);
  return g;
}

function switchToSuperPage(steps: SuperPageSteps, t: IntelTable, startPfn: number, endPfn: number, level: number): void {
  const retain = steps.retain ?? ((l: number) => l + 2);
  const flush = steps.flush ?? kernelSuperPageFlush;
  const lvlPages = POW2[9 * level] as number;
  if (startPfn % lvlPages !== 0 || (endPfn + 1) % lvlPages !== 0) return; // WARN
  let w = -1;
  while (startPfn <= endPfn) {
    if (w < 0) w = t.pfnToPte(startPfn, level, false);
    if (w < 0) return;
    if (((t.u32[w] as number) & 3) !== 0) {
      t.freePagetable(startPfn, startPfn + lvlPages - 1, retain(level));
      t.onFlush?.(flush(startPfn, endPfn, level));
    }
    w += 2;
    startPfn += lvlPages;
    if (((w >>> 1) & 511) === 0) w = -1;
  }
}

/** Has a 6.12 VT-d table clear blocks for superpages through the given steps (other tables are left alone). */
export function patchSwitchToSuperPage(pt: IoPageTable, steps: SuperPageSteps): void {
  if (pt.g.driver !== 'intel-612') return;
  const t = pt as unknown as IntelTable;
  patchOwn(t, 'switchToSuperPage', () => (startPfn: number, endPfn: number, level: number) => switchToSuperPage(steps, t, startPfn, endPfn, level));
}
