/**
 * Shared by the faults in generic_pt's check_map_range / increase_top
 * (iommu_pt.h, 7.3): a copy of the reference's IoPageTable.checkMapRange for
 * dynamic-top tables (AMD v1), whose two choices are steps — which IOVA of
 * the range decides whether the top must grow (pt_check_range tests
 * range->va and range->last_va), and which slot of each new top the old top
 * is linked under (index 0: the old table translated the VA range from 0).
 * Tables at a wide window (winHi ≠ 0) and tables without a dynamic top take
 * the original.
 */
import { ENOMEM, ERANGE } from '../../../impl/lib/errno.ts';
import { vaBitsAtTop, type PtGeometry } from '../../../impl/pagetable/format.ts';
import type { IommuDomain } from '../../../impl/platform/index.ts';
import { patchOwn } from '../harness.ts';

/** The IoPageTable members check_map_range / increase_top use. */
interface TableInternals {
  readonly g: PtGeometry;
  winHi: number;
  root: number;
  topLevel: number;
  readonly rootHw: number;
  onChangeTop: ((rootHw: number, level: number) => void) | null;
  neededVaBits(last: number): number;
  allocTable(level: number): number;
  writeTableEntry(w: number, level: number, childPa: number): void;
  flush(pa: number, bytes: number): void;
  setNumberLimits(): void;
  checkMapRange(va: number, last: number, leafLevel: number): number;
}

export interface GrowTopSteps {
  /** The IOVA whose VA bits the top must cover (the kernel: the range's last). */
  readonly decidingVa?: (va: number, last: number) => number;
  /** The slot of the new top at level `level` the old top goes under (the kernel: 0). */
  readonly oldTopSlot?: (g: PtGeometry, va: number, level: number) => number;
}

/** Patches a domain's dynamic-top generic_pt table with checkMapRange taken through `steps`. */
export function growTopWith(d: IommuDomain, steps: GrowTopSteps): void {
  const pt = d.hw?.pt;
  if (!pt || pt.g.driver !== 'generic_pt' || !pt.g.dynamicTop) return;
  const t = pt as unknown as TableInternals;
  const decidingVa = steps.decidingVa ?? ((_va, last) => last);
  const oldTopSlot = steps.oldTopSlot ?? (() => 0);
  patchOwn(t, 'checkMapRange', (original) => (va: number, last: number, leafLevel: number) => {
    const g = t.g;
    if (t.winHi !== 0) return original(va, last, leafLevel);
    const need = t.neededVaBits(decidingVa(va, last));
    while (need > g.vaBits || leafLevel > t.topLevel) {
      const nl = t.topLevel + 1;
      if (nl > g.maxTopLevel || (g.itemLg2[nl] as number) >= g.maxVaBits) return -ERANGE;
      const top = t.allocTable(nl);
      if (top === 0) return -ENOMEM;
      const slot = oldTopSlot(g, va, nl);
      t.writeTableEntry((top >>> 2) + 2 * slot, nl, t.root);
      t.flush(top + 8 * slot, 8);
      t.root = top;
      t.topLevel = nl;
      g.topLevel = nl;
      g.vaBits = vaBitsAtTop(g, nl);
      t.setNumberLimits();
      if (t.onChangeTop !== null) t.onChangeTop(t.rootHw, nl);
    }
    return 0;
  });
}
