/**
 * One case replayed (onlyCase: a known kill) runs that case and no other:
 * fast-check, given the case's path, goes on to the next runs when it
 * passes, and a later case's failure is no replay of it.
 */
import { describe, expect, it } from 'vitest';
import { runSuite } from './runner.ts';

describe('a case replayed alone', () => {
  it('suite.only-case-runs-one-case', async () => {
    // A seed whose first failing case has passing cases before it in its block (the generator
    // decides which: the first seed that has one).
    const opts = (seed: number) => ({ impl: 'conformance/suite/fixtures/stale-after-unmap.ts', profile: '7.3' as const, seed, runs: 25, maxCommands: 25, oracle: 'invariants' as const, blockSize: 25, stabilityEvery: 0, shrinkTimeMs: 0, stopOnFailure: true });
    let seed = 0;
    let first = 0;
    while (first === 0 && seed < 8) {
      const whole = await runSuite(opts(++seed));
      expect(whole.failure?.block, `seed ${seed}`).toBe(0);
      first = Number(whole.failure?.path.split(':')[0]);
    }
    expect(first).toBeGreaterThan(0);
    const before = await runSuite({ ...opts(seed), onlyCase: { block: 0, index: first - 1 } });
    expect(before.failure, 'a passing case replayed alone must pass, not find the next one').toBeUndefined();
    expect(before.blocks[0]?.cases).toBe(1);
    const at = await runSuite({ ...opts(seed), onlyCase: { block: 0, index: first } });
    expect(Number(at.failure?.path.split(':')[0])).toBe(first);
  }, 600_000);
});
