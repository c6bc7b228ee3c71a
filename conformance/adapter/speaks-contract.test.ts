import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { check } from '../../spec/clauses/check.ts';
import { openAdapter } from './open.ts';
import { singleRequestArb } from '../../spec/contract/arbitraries.ts';
import type { Profile } from '../../spec/contract/types.ts';
import { propertyRuns } from '../../spec/testing/property-budget.ts';


/**
 * Random, schema-valid requests of every op against an in-process
 * implementation with wire validation on: every result must convert to a
 * schema-valid wire form (else the call rejects), and no request may make the
 * implementation throw (an 'internal' protocol error).
 */
async function sweep(spec: string, profile: Profile, runs: number): Promise<Map<string, number>> {
  const a = await openAdapter(spec, { profile, validateInProcess: true });
  const outcomes = new Map<string, number>();
  try {
    for (const request of fc.sample(singleRequestArb, propertyRuns(runs))) {
      const r = await a.call(request);
      if (!r.ok) expect(r.error.code, `${JSON.stringify(request, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}: ${r.error.message}`).not.toBe('internal');
      const key = `${request.op}:${r.ok ? 'ok' : r.error.code}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
  } finally {
    await a.close();
  }
  return outcomes;
}

describe('implementations speak the contract', () => {
  check('adapter.stub.speaks-contract', async () => {
    const outcomes = await sweep('stub', '6.12', 300);
    expect([...outcomes.keys()].filter((k) => k.endsWith(':ok')).sort()).toStrictEqual(['capabilities:ok', 'ioctl:ok']);
  });

  describe('the reference (impl/adapter/adapter.ts)', () => {
    check(
      'adapter.ref.speaks-contract',
      async () => {
        for (const profile of ['6.12', '7.3'] as const) {
          const outcomes = await sweep('ref', profile, 1000);
          expect(outcomes.size).toBeGreaterThan(20);
        }
      },
    );
  });
});
