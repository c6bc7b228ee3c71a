import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { check } from '../clauses/check.ts';
import { budgetFromEnv, DEFAULT_RUNS, hangGuardMs, LARGE_RUNS, PINNED_SEED, propertyRuns } from './property-budget.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INSTALLED = 'the budget of the environment is installed in this worker';

describe('the property budget', () => {
  it('reads IOMMUFD_SPEC_BUDGET and IOMMUFD_SPEC_SEED', () => {
    expect(budgetFromEnv({})).toEqual({ name: 'default', numRuns: DEFAULT_RUNS, seed: PINNED_SEED });
    expect(budgetFromEnv({ IOMMUFD_SPEC_BUDGET: 'large', IOMMUFD_SPEC_SEED: '42' })).toEqual({ name: 'large', numRuns: LARGE_RUNS, seed: 42 });
    expect(budgetFromEnv({ IOMMUFD_SPEC_BUDGET: '5000' }).numRuns).toBe(5000);
    expect(() => budgetFromEnv({ IOMMUFD_SPEC_BUDGET: 'huge' })).toThrow(/IOMMUFD_SPEC_BUDGET=huge/);
    expect(() => budgetFromEnv({ IOMMUFD_SPEC_SEED: 'x' })).toThrow(/IOMMUFD_SPEC_SEED=x/);
  });

  it('scales hang guards with the budget (never below the default bound)', () => {
    expect(hangGuardMs(60_000, {})).toBe(60_000);
    expect(hangGuardMs(60_000, { IOMMUFD_SPEC_BUDGET: 'large' })).toBe(600_000);
    expect(hangGuardMs(60_000, { IOMMUFD_SPEC_BUDGET: '10' })).toBe(60_000);
  });

  it(INSTALLED, () => {
    const budget = budgetFromEnv();
    expect(fc.readConfigureGlobal()).toMatchObject({ numRuns: budget.numRuns, seed: budget.seed });
    // A property written for N runs at the default budget gets N × budget / 100.
    expect(propertyRuns(400).numRuns).toBe(Math.round((400 * budget.numRuns) / DEFAULT_RUNS));
    expect(propertyRuns(1).numRuns).toBeGreaterThanOrEqual(1);
  });

  check('tests.property-budget.one-knob', () => {
    // vitest's setup file installs what the environment asks for in every worker: run the
    // check above in a child vitest with the large budget and a seed, and it still holds.
    const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'spec/testing/property-budget.test.ts', '-t', INSTALLED], {
      cwd: ROOT,
      env: { ...process.env, IOMMUFD_SPEC_BUDGET: 'large', IOMMUFD_SPEC_SEED: '7', NO_COLOR: '1' },
      encoding: 'utf8',
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1 passed/);
  }, 600_000); // a bound against a hang: starting vitest on a busy machine is slow
});
