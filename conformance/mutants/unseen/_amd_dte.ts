/**
 * Shared by the faults in what an AMD device-table entry holds of its
 * domain's table: the root pointer and the paging mode, written by
 * set_dte_entry at attach and rewritten by
 * amd_iommu_update_and_flush_device_table when the table grows a level. The
 * IOMMU walks the table from the top its DTE holds, not from where the table
 * is now.
 */
import type { HwDomain } from '../../../impl/platform/hw.ts';

type Table = NonNullable<HwDomain['pt']>;

/** What a DTE holds of a table: root, mode (top level) and the VA width it implies. */
export interface DteTop {
  readonly root: number;
  readonly topLevel: number;
  readonly vaBits: number;
}

/** The table's top as it is now (what a DTE written now holds). */
export const topOf = (pt: Table): DteTop => ({ root: pt.root, topLevel: pt.topLevel, vaBits: pt.g.vaBits });

/** A walk of the table from `top` instead of its current top: the walk of an IOMMU whose DTE holds `top`. */
export function walkFrom<T>(pt: Table, top: DteTop, walk: () => T): T {
  const now = topOf(pt);
  pt.root = top.root;
  pt.topLevel = top.topLevel;
  pt.g.vaBits = top.vaBits;
  try {
    return walk();
  } finally {
    pt.root = now.root;
    pt.topLevel = now.topLevel;
    pt.g.vaBits = now.vaBits;
  }
}
