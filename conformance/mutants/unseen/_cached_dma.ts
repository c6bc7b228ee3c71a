/**
 * For faults that model a translation cache outside the reference (a VMM's
 * device IOTLB, a lazily updated shadow table): a DMA served from cached
 * translations, read or written through the buffers' user memory as the
 * device would reach the pages, answered as the contract's `dma` answers.
 */
import type { DmaResult, Response, SingleRequest } from '../../../spec/contract/types.ts';

const PAGE = 4096n;

/** One page's part of the access: `n` bytes at `offset` of `buffer`, at `at` in the access. */
export interface CachedPiece {
  readonly buffer: number;
  readonly offset: number;
  readonly n: number;
  readonly at: number;
}

/** A cached translation of one page: where it lands and what it allows. */
export interface CachedPage {
  readonly buffer: number;
  readonly pageOffset: number;
  readonly read: boolean;
  readonly write: boolean;
}

/**
 * The access cut into pages through `lookup` (the cache's page → translation),
 * its length with it; undefined when it is empty, or a page misses or lacks
 * the permission the direction needs (the fault asks the IOMMU then).
 */
export function cachedPieces(req: Extract<SingleRequest, { op: 'dma' }>, lookup: (page: bigint) => CachedPage | undefined): { len: number; pieces: CachedPiece[] } | undefined {
  const len = req.dir === 'write' ? (req.data?.length ?? 0) : (req.length ?? 0);
  if (len <= 0 || req.iova < 0n) return undefined;
  const pieces: CachedPiece[] = [];
  for (let done = 0; done < len; ) {
    const cur = req.iova + BigInt(done);
    const page = cur - (cur % PAGE);
    const e = lookup(page);
    if (!e || (req.dir === 'write' ? !e.write : !e.read)) return undefined;
    const inPage = Number(cur - page);
    const n = Math.min(Number(PAGE) - inPage, len - done);
    pieces.push({ buffer: e.buffer, offset: e.pageOffset + inPage, n, at: done });
    done += n;
  }
  return { len, pieces };
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
