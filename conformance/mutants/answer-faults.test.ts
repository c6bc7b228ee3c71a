/**
 * Faults behind the protocol (answer-faults.ts) against the invariants alone,
 * at run's default budget: every one is killed, by some invariant — which
 * one is the suite's business, so the test asks only that it is an invariant
 * (not the protocol checks, which would mean the fault was malformed). The
 * adapter is shared and reset between cases, as a stdio adapter is.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { inProcessAdapter } from '../adapter/in-process.ts';
import { DEFAULT_PROFILE } from '../adapter/open.ts';
import { runSuite } from '../suite/runner.ts';
import { ANSWER_FAULTS, answerFaultImplementation } from './answer-faults.ts';

describe('faults behind the protocol, which the invariants were not written against', () => {
  check('mutants.answer-faults.killed-by-invariants', async () => {
    const survived: string[] = [];
    for (const fault of ANSWER_FAULTS) {
      const r = await runSuite({ impl: { name: `answer-fault:${fault.name}`, open: async (profile) => inProcessAdapter(answerFaultImplementation(fault, profile ?? DEFAULT_PROFILE)), shared: true }, oracle: 'invariants', stopOnFailure: true });
      const by = r.failure?.objections.map((o) => o.property) ?? [];
      if (r.verdict !== 'fail' || !by.some((p) => p.startsWith('invariants.'))) survived.push(`${fault.name}: ${r.verdict}${by.length ? ` (${by.join(', ')})` : ''}`);
    }
    expect(ANSWER_FAULTS.length).toBeGreaterThanOrEqual(15);
    expect(survived).toStrictEqual([]);
  }, 600_000);
});
