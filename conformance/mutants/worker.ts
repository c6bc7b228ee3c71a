/** A worker thread of `mutants --jobs`: runs the faults it is given and posts each row as it is done. */
import { parentPort, workerData } from 'node:worker_threads';
import { RUN_KIND, type FaultsMessage, type FaultsWorkerData } from './parallel.ts';

const { kind, opts } = workerData as FaultsWorkerData;
const post = (m: FaultsMessage): void => parentPort?.postMessage(m);

try {
  await RUN_KIND[kind]({ ...opts, onRow: (row) => post({ kind: 'row', row }) });
  post({ kind: 'done' });
} catch (err) {
  post({ kind: 'error', message: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
}
