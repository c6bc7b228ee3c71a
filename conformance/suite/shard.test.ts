/**
 * Shards merged give the verdict one unsharded run gives; the GitHub
 * workflow's own shard and merge commands, run here, do the same.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { mergeResults, runSuite, verdictOf, type SuiteResult } from './runner.ts';
import { runSuiteParallel } from './workers.ts';
import { REPO_ROOT } from '../../spec/clauses/registry.ts';

describe('shards', () => {
  for (const impl of ['ref', 'conformance/suite/fixtures/stale-after-unmap.ts']) {
    it(`suite.shard-merge-equals-unsharded.${impl === 'ref' ? 'pass' : 'fail'}`, async () => {
      const base = { impl, profile: '7.3' as const, seed: 5, runs: 9, maxCommands: 25, oracle: 'invariants' as const, blockSize: 3, stabilityEvery: 3, shrinkTimeMs: 3_600_000 };
      const whole = await runSuite(base);
      const shards: SuiteResult[] = [];
      for (const index of [1, 2]) shards.push(await runSuite({ ...base, shard: { index, count: 2 } }));
      expect(shards[0]?.blocks.map((b) => b.block)).toEqual([0, 2]);
      expect(shards[1]?.blocks.map((b) => b.block)).toEqual([1]);
      const merged = mergeResults(JSON.parse(JSON.stringify(shards)) as SuiteResult[]);
      expect(verdictOf(merged)).toEqual(verdictOf(JSON.parse(JSON.stringify(whole)) as SuiteResult));
      expect(() => mergeResults([shards[0] as SuiteResult])).toThrow(/missing/);
    }, 600_000);
  }

  it('suite.jobs-equal-one-thread', async () => {
    const base = { impl: 'ref', profile: '7.3' as const, seed: 5, runs: 6, maxCommands: 30, oracle: 'invariants' as const, blockSize: 2, stabilityEvery: 3 };
    const one = await runSuite(base);
    const two = await runSuiteParallel({ ...base, jobs: 2 });
    expect(verdictOf(two)).toEqual(verdictOf(one));
  }, 600_000);

  it('suite.workflow-commands-run-locally', async () => {
    const wf = parse(readFileSync(join(REPO_ROOT, '.github/workflows/conformance.yml'), 'utf8')) as {
      env: Record<string, string>;
      jobs: { shard: { strategy: { matrix: { shard: number[] } }; steps: { name?: string; run?: string }[] }; merge: { needs: string; steps: { name?: string; run?: string }[] } };
    };
    const shardRun = wf.jobs.shard.steps.find((s) => s.name === 'run shard')?.run;
    const mergeRun = wf.jobs.merge.steps.find((s) => s.name === 'merge shards')?.run;
    expect(shardRun).toBeDefined();
    expect(mergeRun).toBeDefined();
    expect(wf.jobs.merge.needs).toBe('shard');
    const shards = wf.jobs.shard.strategy.matrix.shard;
    expect(Number(wf.env['SUITE_SHARDS'])).toBe(shards.length);
    const dir = mkdtempSync(join(tmpdir(), 'suite-wf-'));
    try {
      // Run where the workflow runs (a checkout): bin/ is the repository's; results/ lands in the temp dir.
      symlinkSync(join(REPO_ROOT, 'bin'), join(dir, 'bin'));
      // The workflow's budget, cut down for a test run; everything else as written.
      const env: NodeJS.ProcessEnv = { ...process.env, ...wf.env, SUITE_RUNS: '16' };
      // The matrix's jobs run side by side, as on the CI: each is one process start plus a few cases.
      const runs = await Promise.all(
        shards.map((shard) => {
          const cmd = (shardRun as string).replaceAll('${{ matrix.shard }}', String(shard));
          return new Promise<{ cmd: string; status: number | null; stderr: string }>((resolve) => {
            const child = spawn('bash', ['-e', '-c', cmd], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
            let stderr = '';
            child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
            child.on('close', (status) => resolve({ cmd, status, stderr }));
          });
        }),
      );
      for (const r of runs) expect(r.status, `${r.cmd}\n${r.stderr}`).toBe(0);
      expect(readdirSync(join(dir, 'results')).filter((f) => f.startsWith('shard-')).sort()).toEqual(shards.map((n) => `shard-${n}.json`).sort());
      const merged = spawnSync('bash', ['-e', '-c', mergeRun as string], { cwd: dir, env, encoding: 'utf8' });
      expect(merged.status, merged.stderr).toBe(0);
      expect(merged.stdout).toMatch(/Verdict: PASS/);
      expect(readFileSync(join(dir, 'results', 'conformance.xml'), 'utf8')).toMatch(/<testsuites/);
      // The shards' results merged equal one unsharded run of the same budget.
      const results = shards.map((n) => JSON.parse(readFileSync(join(dir, 'results', `shard-${n}.json`), 'utf8')) as SuiteResult);
      const whole = await runSuite({ impl: env['SUITE_IMPL'] as string, seed: Number(env['SUITE_SEED']), runs: 16 });
      expect(verdictOf(mergeResults(results))).toEqual(verdictOf(JSON.parse(JSON.stringify(whole)) as SuiteResult));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
