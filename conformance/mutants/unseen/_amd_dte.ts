/**
 * Shared by the faults in what an AMD device-table entry holds of its
 * domain's table: the root pointer and the paging mode, written by
 * set_dte_entry at attach and rewritten by
 * amd_iommu_update_and_flush_device_table when the table grows a level. The
 * IOMMU walks the table from the top its DTE holds, not from where the table
 * is now; and a device's DMA through the hardware context its DTE still
 * names, where the core believes it blocked.
 */
import type { DmaOutcome, Machine } from '../../../impl/platform/index.ts';
import type { HwDomain, HwIommu } from '../../../impl/platform/hw.ts';
import { ACC_READ, ACC_WRITE, FAULT_NO_DOMAIN, FAULT_PERMISSION } from '../../../impl/iommu/walker.ts';

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

/** Machine.dma through a device's hardware context (every page translated before any byte moves): the walk of a DTE the core no longer describes. */
export function hwDma(m: Machine, hw: HwIommu, sid: number, d: HwDomain, iova: bigint, dir: 'read' | 'write', data: Uint8Array | undefined, length: number): DmaOutcome {
  const len = dir === 'write' ? (data?.length ?? 0) : length;
  if (len === 0) return { ok: true, ...(dir === 'read' ? { data: new Uint8Array(0) } : {}), touched: [] };
  if (iova < 0n || iova + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, fault: 'unmapped' };
  const start = Number(iova);
  const granule = Math.min(2048, d.pgsizes[0] ?? 4096);
  const pieces: { pa: number; off: number; n: number }[] = [];
  for (let off = 0; off < len; ) {
    const cur = start + off;
    const n = Math.min(granule - (cur % granule), len - off);
    const pa = hw.translate(sid, cur, dir === 'write' ? ACC_WRITE : ACC_READ);
    if (pa < 0) return { ok: false, fault: -pa === FAULT_PERMISSION ? 'permission' : -pa === FAULT_NO_DOMAIN ? 'blocked' : 'unmapped' };
    pieces.push({ pa, off, n });
    off += n;
  }
  const out = dir === 'read' ? new Uint8Array(len) : undefined;
  for (const p of pieces) {
    if (out) out.set(m.memory.u8.subarray(p.pa, p.pa + p.n), p.off);
    else if (data) m.memory.u8.set(data.subarray(p.off, p.off + p.n), p.pa);
  }
  const touched: { buffer: number; offset: number; length: number }[] = [];
  for (const p of pieces) {
    for (let done = 0; done < p.n; ) {
      const pa = p.pa + done;
      const step = Math.min(4096 - (pa % 4096), p.n - done);
      const where = m.reverseMap(pa);
      done += step;
      if (!where) continue;
      const last = touched[touched.length - 1];
      if (last && last.buffer === where.buffer && last.offset + last.length === where.offset) last.length += step;
      else touched.push({ buffer: where.buffer, offset: where.offset, length: step });
    }
  }
  return { ok: true, ...(out ? { data: out } : {}), touched };
}
