/**
 * `mutants --jobs N`: the faults spread over worker threads, each running its
 * share one after another exactly as one thread would (the same seed and
 * budget per fault), the rows put back in the order of the selection. A
 * fault's verdict does not depend on which thread ran it or on what ran
 * before it in that thread: each run opens its own implementation.
 */
import { Worker } from 'node:worker_threads';
import { answerFaultBase, runAnswerFaults, runMutants, runUnseenFaults, selectAnswerFaults, selectMutants, selectUnseen, unseenBase, type MutantRow, type MutantRunOptions, type RowBase } from './run.ts';

export type FaultKind = 'catalogue' | 'answer-faults' | 'unseen';

export const RUN_KIND: Readonly<Record<FaultKind, (opts: MutantRunOptions) => Promise<MutantRow[]>>> = {
  catalogue: runMutants,
  'answer-faults': runAnswerFaults,
  unseen: runUnseenFaults,
};

/** The faults `only` selects, in run order (throws for an unknown name, as the run would). */
export function selectedFaults(kind: FaultKind, only: readonly string[] | undefined): RowBase[] {
  if (kind === 'catalogue') return selectMutants(only);
  if (kind === 'answer-faults') return selectAnswerFaults(only).map(answerFaultBase);
  return selectUnseen(only).map(unseenBase);
}

export type FaultsWorkerOptions = Omit<MutantRunOptions, 'onRow'>;
export interface FaultsWorkerData {
  readonly entry: string;
  readonly kind: FaultKind;
  readonly opts: FaultsWorkerOptions;
}
export type FaultsMessage = { readonly kind: 'row'; readonly row: MutantRow } | { readonly kind: 'done' } | { readonly kind: 'error'; readonly message: string };

const BOOT = new URL('../suite/worker-boot.mjs', import.meta.url);
const ENTRY = new URL('./worker.ts', import.meta.url).href;

/** The row of a fault its worker never reported (the worker died or failed first). */
function lostRow(f: RowBase, message: string): MutantRow {
  return { name: f.name, class: f.class, security: f.security, clauses: f.clauses, verdict: 'error', killedBy: [], properties: [], seconds: 0, cases: 0, commands: 0, error: `worker failed: ${message}` };
}

/** `entry` is the worker's module (a URL): the faults' runner; tests give one that dies. */
export async function runFaultsParallel(kind: FaultKind, opts: MutantRunOptions, jobs: number, entry: string = ENTRY): Promise<MutantRow[]> {
  const faults = selectedFaults(kind, opts.only);
  const n = Math.max(1, Math.min(jobs, faults.length));
  const { onRow, ...plain } = opts;
  // Round-robin: the slow faults are not known in advance, and neighbours in a list tend to be alike.
  const shares: RowBase[][] = Array.from({ length: n }, (_, i) => faults.filter((_, j) => j % n === i));
  const rows = new Map<string, MutantRow>();
  await Promise.all(
    shares.map(
      (mine) =>
        new Promise<void>((resolve) => {
          const data: FaultsWorkerData = { entry, kind, opts: { ...plain, only: mine.map((f) => f.name) } };
          const w = new Worker(BOOT, { workerData: data });
          let failure: string | undefined;
          w.on('message', (m: FaultsMessage) => {
            if (m.kind === 'row') {
              rows.set(m.row.name, m.row);
              onRow?.(m.row);
            } else if (m.kind === 'error') failure = m.message;
          });
          w.on('error', (err) => (failure ??= err.message));
          w.on('exit', (code) => {
            const why = failure ?? (code !== 0 ? `exited with code ${code}` : 'ended without a row');
            for (const f of mine) {
              if (rows.has(f.name)) continue;
              const row = lostRow(f, why);
              rows.set(f.name, row);
              onRow?.(row);
            }
            resolve();
          });
        }),
    ),
  );
  return faults.map((f) => rows.get(f.name) as MutantRow);
}
