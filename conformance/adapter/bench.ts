/**
 * Throughput of an adapter for real ioctls, unbatched (one round trip each)
 * and batched (many per round trip). The ioctl is IOMMU_OPTION GET of
 * IOMMU_OPTION_RLIMIT_MODE on a fresh /dev/iommu: it succeeds, has a struct
 * argument (so the whole encode/decode path is exercised) and leaves no state.
 * Works on any Adapter (`iommufd-spec bench adapter`, `iommufd-spec kernel bench`).
 */
import type { Adapter, IoctlResult, Request } from '../../spec/contract/types.ts';
import { IOMMU_OPTION_OP_GET, IOMMU_OPTION_RLIMIT_MODE } from '../../spec/uapi/constants.ts';

export interface BenchOptions {
  /** Unbatched ioctls (one round trip each). */
  readonly single?: number;
  readonly batches?: number;
  readonly batchSize?: number;
}

export interface BenchResult {
  readonly single: { readonly ioctls: number; readonly seconds: number; readonly perSecond: number; readonly rttMsMedian: number; readonly rttMsP95: number };
  readonly batched: { readonly ioctls: number; readonly batchSize: number; readonly seconds: number; readonly perSecond: number; readonly batchMsMedian: number };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

export class BenchError extends Error {}

export async function benchAdapter(adapter: Adapter, opts: BenchOptions = {}): Promise<BenchResult> {
  const single = opts.single ?? 200;
  const batches = opts.batches ?? 20;
  const batchSize = opts.batchSize ?? 100;
  const opened = await adapter.call({ op: 'open', node: 'iommu' });
  if (!opened.ok || opened.result.fd < 0) throw new BenchError(`cannot open /dev/iommu: ${JSON.stringify(opened.ok ? opened.result : opened.error)}`);
  const fd = opened.result.fd;
  const req: Request = {
    op: 'ioctl',
    fd,
    cmd: 'IOMMU_OPTION',
    arg: { kind: 'struct', fields: { option_id: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_GET, object_id: 0 } },
  };
  const check = (r: Awaited<ReturnType<Adapter['call']>>): void => {
    if (!r.ok) throw new BenchError(`IOMMU_OPTION failed: ${r.error.code}: ${r.error.message}`);
    const res = r.result as IoctlResult;
    if (res.ret !== 0) throw new BenchError(`IOMMU_OPTION returned ${res.ret} errno ${res.errno}`);
  };
  check(await adapter.call(req)); // warm-up
  const rtts: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < single; i++) {
    const s = performance.now();
    check(await adapter.call(req));
    rtts.push(performance.now() - s);
  }
  const singleSeconds = (performance.now() - t0) / 1000;
  const batchTimes: number[] = [];
  const requests = Array.from({ length: batchSize }, () => req);
  const t1 = performance.now();
  for (let b = 0; b < batches; b++) {
    const s = performance.now();
    const responses = await adapter.batch(requests);
    batchTimes.push(performance.now() - s);
    responses.forEach(check);
  }
  const batchedSeconds = (performance.now() - t1) / 1000;
  await adapter.call({ op: 'close', fd });
  rtts.sort((a, b) => a - b);
  batchTimes.sort((a, b) => a - b);
  return {
    single: { ioctls: single, seconds: singleSeconds, perSecond: single / singleSeconds, rttMsMedian: quantile(rtts, 0.5), rttMsP95: quantile(rtts, 0.95) },
    batched: {
      ioctls: batches * batchSize,
      batchSize,
      seconds: batchedSeconds,
      perSecond: (batches * batchSize) / batchedSeconds,
      batchMsMedian: quantile(batchTimes, 0.5),
    },
  };
}
