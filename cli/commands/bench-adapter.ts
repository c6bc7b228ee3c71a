/**
 * `iommufd-spec bench adapter --impl <spec>`: ioctls per second through an
 * adapter, unbatched (one round trip per ioctl) and batched. Each figure is the
 * median of several rounds; the baseline is the same workload through the
 * in-process reference, measured in the same run, so machine noise cancels.
 * `baseline_ratio` = value ÷ the baseline's value for the same id.
 */
import type { Command } from 'commander';
import { openAdapter } from '../../conformance/adapter/open.ts';
import { benchAdapter, BenchError, type BenchResult } from '../../conformance/adapter/bench.ts';
import { isProfile, type Profile } from '../../spec/uapi/profiles.ts';
import { impliedProfile } from '../../conformance/programs/session.ts';
import { AdapterError } from '../../conformance/adapter/errors.ts';
import { UsageError } from '../usage.ts';
import './implementations.ts';

interface AdapterBenchOptions {
  impl: string;
  profile?: string;
  json?: boolean;
  rounds: string;
  single: string;
  batches: string;
  batchSize: string;
}

export interface AdapterBenchRow {
  readonly impl: string;
  readonly id: 'unbatched_ioctls_per_s' | 'batched_ioctls_per_s' | 'rtt_ms_median';
  readonly value: number;
  readonly unit: string;
  readonly baseline_ratio: number | null;
}

function positiveInt(option: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${option}: expected an integer >= ${min}, got '${v}'`);
  return n;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function measure(spec: string, profile: Profile, rounds: number, opts: { single: number; batches: number; batchSize: number }) {
  const adapter = await openAdapter(spec, { profile });
  try {
    await benchAdapter(adapter, { single: 20, batches: 2, batchSize: opts.batchSize }); // warm-up round, discarded
    const results: BenchResult[] = [];
    for (let r = 0; r < rounds; r++) results.push(await benchAdapter(adapter, opts));
    return {
      unbatched_ioctls_per_s: median(results.map((r) => r.single.perSecond)),
      batched_ioctls_per_s: median(results.map((r) => r.batched.perSecond)),
      rtt_ms_median: median(results.map((r) => r.single.rttMsMedian)),
    };
  } finally {
    await adapter.close();
  }
}

const UNITS = { unbatched_ioctls_per_s: 'ioctl/s', batched_ioctls_per_s: 'ioctl/s', rtt_ms_median: 'ms' } as const;

export function adapterBenchSuite(bench: Command, setExit: (code: number) => void): void {
  bench
    .command('adapter')
    .description('ioctls per second through an adapter, unbatched and batched (baseline: the in-process reference)')
    .requiredOption('--impl <spec>', 'implementation: ref, stub, linux-6.12, linux-7.3, cmd:<command line>, or a module path')
    .option('--profile <profile>', 'kernel profile (6.12 or 7.3); default: the lane\'s, else 6.12')
    .option('--json', 'print an array of { impl, id, value, unit, baseline_ratio }')
    .option('--rounds <n>', 'timed rounds per figure (median; at least 5)', '5')
    .option('--single <n>', 'unbatched ioctls per round', '200')
    .option('--batches <n>', 'batches per round', '20')
    .option('--batch-size <n>', 'ioctls per batch', '100')
    .action(async (o: AdapterBenchOptions) => {
      if (o.profile !== undefined && !isProfile(o.profile)) throw new UsageError(`--profile must be 6.12 or 7.3 (got '${o.profile}')`);
      const lane = impliedProfile(o.impl);
      if (o.profile !== undefined && lane !== undefined && o.profile !== lane) throw new UsageError(`--profile ${o.profile} does not match --impl ${o.impl}`);
      const profile: Profile = (o.profile as Profile | undefined) ?? lane ?? '6.12';
      const rounds = positiveInt('--rounds', o.rounds, 5);
      const load = { single: positiveInt('--single', o.single), batches: positiveInt('--batches', o.batches), batchSize: positiveInt('--batch-size', o.batchSize) };
      let baseline: Awaited<ReturnType<typeof measure>>;
      let measured: Awaited<ReturnType<typeof measure>>;
      try {
        baseline = await measure('ref', profile, rounds, load);
        measured = o.impl === 'ref' ? baseline : await measure(o.impl, profile, rounds, load);
      } catch (e) {
        if (e instanceof BenchError) {
          process.stderr.write(`iommufd-spec bench adapter: ${e.message}\n`);
          setExit(1);
          return;
        }
        if (e instanceof AdapterError) {
          // The implementation could not be started or broke the protocol.
          process.stderr.write(`iommufd-spec bench adapter: --impl ${o.impl}: ${e.message}\n`);
          setExit(2);
          return;
        }
        throw e;
      }
      const rows: AdapterBenchRow[] = (Object.keys(UNITS) as (keyof typeof UNITS)[]).map((id) => ({
        impl: o.impl,
        id,
        value: Number(measured[id].toPrecision(4)),
        unit: UNITS[id],
        baseline_ratio: Number((measured[id] / baseline[id]).toPrecision(4)),
      }));
      if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else for (const r of rows) process.stdout.write(`${r.impl.padEnd(12)} ${r.id.padEnd(24)} ${String(r.value).padStart(10)} ${r.unit.padEnd(8)} ×${r.baseline_ratio} of in-process ref\n`);
      setExit(0);
    });
}
