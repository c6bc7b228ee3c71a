/**
 * Faults behind the protocol (answer-faults.ts) against the invariants alone,
 * at run's default budget, as `iommufd-spec mutants --answer-faults` runs
 * them: every one is killed, by some invariant — which one is the suite's
 * business, so the test asks only that it is an invariant (not the protocol
 * checks, which would mean the fault was malformed). The adapter is shared
 * and reset between cases, as a stdio adapter is. Each fault's known kill
 * (known-kills.ts) is replayed before its whole budget.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { ANSWER_FAULTS } from './answer-faults.ts';
import { mutantsCli } from './cli-rows.test-support.ts';
import { knownKillsFile } from './known-kills.ts';

describe('faults behind the protocol, which the invariants were not written against', () => {
  check('mutants.answer-faults.killed-by-invariants', async () => {
    const rows = await mutantsCli(['--answer-faults', '--oracle', 'invariants', '--known-kills', knownKillsFile('answer-faults', 'invariants')]);
    expect(ANSWER_FAULTS.length).toBeGreaterThanOrEqual(20);
    const survived = rows.filter((r) => r.verdict !== 'killed' || !r.properties.some((p) => p.startsWith('invariants.'))).map((r) => `${r.name}: ${r.verdict} (${r.properties.join(', ') || r.error || '-'})`);
    expect(survived).toStrictEqual([]);
  }, 600_000);
});
