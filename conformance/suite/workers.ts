/**
 * `--jobs N`: blocks spread over worker threads. Each worker opens its own
 * implementation (the implementation must be named by a string: a factory
 * function cannot cross into a worker) and runs the blocks it is given; the
 * main thread assembles the verdict from the blocks, exactly as one thread
 * would. A worker that dies is reported as a suite error for its blocks.
 */
import { Worker } from 'node:worker_threads';
import { assemble, blocksOfShard, metaOf, prepare, type BlockResult, type Progress, type SuiteOptions, type SuiteResult } from './runner.ts';

export type WorkerOptions = Omit<SuiteOptions, 'impl' | 'clock' | 'onProgress'> & { readonly impl: string };

export type WorkerMessage = { readonly kind: 'block'; readonly result: BlockResult } | { readonly kind: 'progress'; readonly progress: Progress } | { readonly kind: 'done' } | { readonly kind: 'error'; readonly message: string };

const WORKER = new URL('./worker-boot.mjs', import.meta.url);

export async function runSuiteParallel(opts: SuiteOptions & { readonly jobs: number }): Promise<SuiteResult> {
  if (typeof opts.impl !== 'string') throw new Error('--jobs needs an implementation named by a string (ref, cmd:…, a module path)');
  const ctx = await prepare(opts);
  const meta = metaOf(ctx, opts);
  await ctx.provider.close();
  const blocks = blocksOfShard(meta.blockCount, opts.shard);
  const jobs = Math.max(1, Math.min(opts.jobs, blocks.length));
  const assigned: number[][] = Array.from({ length: jobs }, () => []);
  blocks.forEach((b, i) => assigned[i % jobs]?.push(b));
  const { onProgress, clock: _clock, ...plain } = opts;
  void _clock;
  const results: BlockResult[] = [];
  await Promise.all(
    assigned.map(
      (mine) =>
        new Promise<void>((resolve) => {
          const w = new Worker(WORKER, { workerData: { opts: { ...plain, impl: opts.impl as string }, blocks: mine } });
          const got = new Set<number>();
          const fail = (message: string): void => {
            for (const b of mine) if (!got.has(b)) results.push({ block: b, seed: 0, cases: 0, commands: 0, ms: 0, counts: {}, known: [], error: `worker failed: ${message}` });
            got.clear();
            for (const b of mine) got.add(b);
          };
          w.on('message', (m: WorkerMessage) => {
            if (m.kind === 'block') {
              got.add(m.result.block);
              results.push(m.result);
            } else if (m.kind === 'progress') onProgress?.(m.progress);
            else if (m.kind === 'error') fail(m.message);
          });
          w.on('error', (err) => fail(err.message));
          w.on('exit', (code) => {
            if (code !== 0) fail(`exited with code ${code}`);
            else if (mine.some((b) => !got.has(b))) fail('ended without results for all its blocks');
            resolve();
          });
        }),
    ),
  );
  return assemble(meta, results);
}
