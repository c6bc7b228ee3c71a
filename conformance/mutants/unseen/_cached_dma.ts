/**
 * For faults that model a translation cache outside the reference (a VMM's
 * device IOTLB, a lazily updated shadow table): a DMA served from cached
 * translations, read or written through the buffers' user memory as the
 * device would reach the pages, answered as the contract's `dma` answers.
 */
import type { DmaResult, Response, SingleRequest } from '../../../spec/contract/types.ts';

/** One page's part of the access: `n` bytes at `offset` of `buffer`, at `at` in the access. */
export interface CachedPiece {
  readonly buffer: number;
  readonly offset: number;
  readonly n: number;
  readonly at: number;
}

/** The DMA through `pieces`; undefined when a page is gone from the buffer (the fault asks the IOMMU after all). */
export function dmaThroughPieces(call: (req: SingleRequest) => Response, req: Extract<SingleRequest, { op: 'dma' }>, len: number, pieces: readonly CachedPiece[]): Response | undefined {
  const out = req.dir === 'read' ? new Uint8Array(len) : undefined;
  if (out) {
    for (const p of pieces) {
      const r = call({ op: 'mem_read', buffer: p.buffer, offset: p.offset, length: p.n });
      if (!r.ok) return undefined;
      out.set((r.result as { data: Uint8Array }).data, p.at);
    }
  }
  if (req.dir === 'write') {
    for (const p of pieces) {
      const r = call({ op: 'mem_write', buffer: p.buffer, offset: p.offset, data: req.data!.subarray(p.at, p.at + p.n) });
      if (!r.ok) return undefined;
    }
  }
  const touched: { buffer: number; offset: number; length: number }[] = [];
  for (const p of pieces) {
    const last = touched[touched.length - 1];
    if (last && last.buffer === p.buffer && last.offset + last.length === p.offset) last.length += p.n;
    else touched.push({ buffer: p.buffer, offset: p.offset, length: p.n });
  }
  const res: DmaResult = { ok: true, ...(out ? { data: out } : {}), touched };
  return { ok: true, result: res };
}
