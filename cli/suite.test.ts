/** The run/replay/merge command lines: bad flags are usage errors naming the flag (exit 2). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from './main.ts';
import { parseRunOptions } from './commands/run.ts';
import { UsageError } from './usage.ts';
import { RESULT_FORMAT } from '../conformance/suite/runner.ts';

describe('iommufd-spec run options', () => {
  const bad: [Record<string, string | boolean>, RegExp][] = [
    [{}, /--impl/],
    [{ impl: 'no-such-thing' }, /--impl: unknown implementation/],
    [{ impl: 'ref', seed: 'x' }, /--seed/],
    [{ impl: 'ref', runs: '0' }, /--runs/],
    [{ impl: 'ref', maxCommands: '-3' }, /--max-commands/],
    [{ impl: 'ref', profile: '5.10' }, /--profile/],
    [{ impl: 'linux-6.12', profile: '7.3' }, /--profile 7.3 does not match/],
    [{ impl: 'ref', oracle: 'some' }, /--oracle/],
    [{ impl: 'ref', reporter: 'tap' }, /--reporter/],
    [{ impl: 'ref', shard: '3/2' }, /--shard/],
    [{ impl: 'ref', shard: 'x' }, /--shard/],
    [{ impl: 'ref', jobs: '0' }, /--jobs/],
    [{ impl: 'ref', expectations: '/nonexistent/file.json' }, /--expectations/],
  ];
  for (const [opts, msg] of bad) {
    it(`refuses ${JSON.stringify(opts)}`, () => {
      expect(() => parseRunOptions(opts)).toThrow(UsageError);
      expect(() => parseRunOptions(opts)).toThrow(msg);
    });
  }

  it('runs, writes a JSON result, and merges it back (exit codes)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'suite-cli-'));
    try {
      const out = join(dir, 'r.json');
      expect(await main(['node', 'iommufd-spec', 'run', '--impl', 'ref', '--runs', '2', '--max-commands', '15', '--seed', '3', '--reporter', 'json', '--out', out, '--oracle', 'invariants'])).toBe(1); // 2 cases cannot exercise every property
      const r = JSON.parse(readFileSync(out, 'utf8')) as { format: string; verdict: string };
      expect(r.format).toBe(RESULT_FORMAT);
      expect(await main(['node', 'iommufd-spec', 'merge', out, '--reporter', 'json', '--out', join(dir, 'm.json')])).toBe(r.verdict === 'pass' ? 0 : 1);
      expect(await main(['node', 'iommufd-spec', 'merge', join(dir, 'nope.json')])).toBe(2);
      expect(await main(['node', 'iommufd-spec', 'run', '--impl', 'ref', '--oracle', 'bogus'])).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
