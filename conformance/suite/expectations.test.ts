/**
 * Suite expectations files: what an entry matches, and the precise refusal of
 * a malformed one. The shipped files (expectations/*.json) must parse.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSuiteExpectations, matchExpectation, parseSuiteExpectations, SUITE_EXPECTATIONS_DIR, type SuiteExpectation } from './expectations.ts';
import type { Objection } from './oracles/oracle.ts';

const objection = (command: string, observed: string): Objection => ({
  oracle: 'invariants',
  property: 'fail-nth',
  step: 3,
  message: 'm',
  signature: { command, expected: 'no change', observed },
});

describe('suite expectations', () => {
  it('an entry with a profile matches only runs of that profile; one without matches every run', () => {
    const only612: SuiteExpectation = { property: 'fail-nth', profile: '6.12', command: 'IOMMU_IOAS_MAP', observed: 'translate changed', kind: 'kernel-bug', reason: 'r' };
    const o = objection('IOMMU_IOAS_MAP', 'translate changed');
    expect(matchExpectation([only612], o, '6.12')).toBe(only612);
    expect(matchExpectation([only612], o, '7.3')).toBeUndefined();
    expect(matchExpectation([only612], objection('IOMMU_IOAS_MAP', 'pin_count changed'), '6.12')).toBeUndefined();
    const any: SuiteExpectation = { property: 'fail-nth', command: 'IOMMU_IOAS_MAP', kind: 'kernel-bug', reason: 'r' };
    expect(matchExpectation([any], o, '7.3')).toBe(any);
  });

  it('a malformed profile is refused, naming the entry and the field', () => {
    const text = JSON.stringify({ format: 'iommufd-suite-expectations/1', implementation: 'ref', entries: [{ property: 'fail-nth', profile: '6.1', kind: 'kernel-bug', reason: 'r' }] });
    expect(() => parseSuiteExpectations(text, 'x.json')).toThrow(/x\.json: entries\[0\]\.profile: a kernel profile \(6\.12 or 7\.3\), got "6\.1"/);
  });

  it('every shipped expectations file parses, each entry with a reason', () => {
    const files = readdirSync(SUITE_EXPECTATIONS_DIR).filter((f) => f.endsWith('.json'));
    expect(files).toContain('reference.json');
    for (const f of files) for (const e of loadSuiteExpectations(join(SUITE_EXPECTATIONS_DIR, f)).entries) expect(e.reason.length).toBeGreaterThan(20);
  });
});
