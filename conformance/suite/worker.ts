/** A worker thread of `--jobs`: runs the blocks it is given and posts each result. */
import { parentPort, workerData } from 'node:worker_threads';
import { prepare, runBlock, runtimeOf } from './runner.ts';
import type { WorkerMessage, WorkerOptions } from './workers.ts';

const { opts, blocks } = workerData as { opts: WorkerOptions; blocks: number[] };
const post = (m: WorkerMessage): void => parentPort?.postMessage(m);

try {
  const ctx = await prepare(opts);
  try {
    const rt = runtimeOf(ctx, opts);
    for (const b of blocks) post({ kind: 'block', result: await runBlock(b, rt, (progress) => post({ kind: 'progress', progress })) });
  } finally {
    await ctx.provider.close();
  }
  post({ kind: 'done' });
} catch (err) {
  post({ kind: 'error', message: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
}
