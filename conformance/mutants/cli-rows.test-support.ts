/**
 * The mutant checks run `iommufd-spec mutants` as its users do, in a process
 * of its own, and judge the rows of its `--json` report. Run inside a vitest
 * worker instead, the unseen faults took 76 s where the command takes 64 s
 * (vitest's module runner reads every imported name through a getter, in the
 * suite's hottest code), and these checks are most of `npm run
 * conformance`'s time.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../spec/clauses/registry.ts';
import { VERDICT_ONLY, type MutantRow } from './run.ts';

const BIN = join(REPO_ROOT, 'bin', 'iommufd-spec.mjs');

/**
 * `iommufd-spec mutants --json --no-corpus --shrink-time 0 <args>`: the rows,
 * judged on the first failing case (VERDICT_ONLY's reason, run.ts). One
 * thread: the other test files have the other cores (with `--jobs 2` here
 * on two cores, the run took more CPU time, not less wall time); the longest
 * check splits its faults over two calls instead. Exit 1
 * (a survivor) still reports its rows; anything else without a report is an
 * error naming the command and its stderr.
 */
export async function mutantsCli(args: readonly string[]): Promise<MutantRow[]> {
  const replayDir = mkdtempSync(join(tmpdir(), 'iommufd-spec-mutants-'));
  const argv = [BIN, 'mutants', '--json', '--no-corpus', '--shrink-time', String(VERDICT_ONLY.shrinkTimeMs), '--replay-dir', replayDir, ...args];
  try {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, argv, { cwd: REPO_ROOT, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
      });
    });
    if (code !== 0 && code !== 1) throw new Error(`iommufd-spec ${argv.slice(1).join(' ')} exited ${String(code)}: ${stderr.trim()}`);
    return (JSON.parse(stdout) as { rows: MutantRow[] }).rows;
  } finally {
    rmSync(replayDir, { recursive: true, force: true });
  }
}
