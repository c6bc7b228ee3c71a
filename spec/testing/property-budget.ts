/**
 * The property-test budget: one knob for every fast-check property in the
 * repository, read from the environment and installed with
 * `fc.configureGlobal` by the vitest setup file (spec/testing/vitest.setup.ts),
 * so every worker thread runs with it.
 *
 *   IOMMUFD_SPEC_BUDGET  `default` (npm test: 100 runs per property at weight
 *                        1, a pinned seed), `large` (npm run conformance:
 *                        ten times as many runs), or a number of runs
 *   IOMMUFD_SPEC_SEED    the seed (a 32-bit integer); default: pinned for the
 *                        default budget — `npm test` is reproducible — and,
 *                        for a larger one, chosen and printed by whoever sets
 *                        the budget (`npm run conformance` prints it)
 *
 * A property written for N runs at the default budget asks for
 * `propertyRuns(N)` and gets N × (budget ÷ 100): the knob scales every
 * property, cheap or costly, by the same factor, and no property pins its own
 * seed (fast-check reports the seed of a failure, and IOMMUFD_SPEC_SEED
 * replays it).
 */
import fc from 'fast-check';

/** fast-check's own default, the unit the weights are written in. */
export const DEFAULT_RUNS = 100;
export const LARGE_RUNS = 1000;
/** The seed `npm test` runs with. */
export const PINNED_SEED = 20261202;

export interface PropertyBudget {
  readonly name: string;
  readonly numRuns: number;
  readonly seed: number;
}

export class BudgetError extends Error {}

/** The budget the environment asks for. */
export function budgetFromEnv(env: NodeJS.ProcessEnv = process.env): PropertyBudget {
  const raw = env['IOMMUFD_SPEC_BUDGET'] ?? 'default';
  let numRuns: number;
  if (raw === 'default') numRuns = DEFAULT_RUNS;
  else if (raw === 'large') numRuns = LARGE_RUNS;
  else if (/^[1-9]\d{0,6}$/.test(raw)) numRuns = Number(raw);
  else throw new BudgetError(`IOMMUFD_SPEC_BUDGET=${raw}: expected default, large or a number of runs`);
  const seedText = env['IOMMUFD_SPEC_SEED'];
  if (seedText !== undefined && !/^-?\d{1,10}$/.test(seedText)) throw new BudgetError(`IOMMUFD_SPEC_SEED=${seedText}: expected a 32-bit integer`);
  const seed = seedText === undefined ? PINNED_SEED : Number(seedText) | 0;
  return { name: raw, numRuns, seed };
}

/** Installs a budget for every property of this worker. */
export function installBudget(budget: PropertyBudget): void {
  fc.configureGlobal({ numRuns: budget.numRuns, seed: budget.seed });
}

/**
 * fast-check parameters for a property written for `defaultRuns` runs at the
 * default budget, scaled by the installed one (at least one run).
 */
export function propertyRuns(defaultRuns: number): { numRuns: number } {
  const global = fc.readConfigureGlobal().numRuns ?? DEFAULT_RUNS;
  return { numRuns: Math.max(1, Math.round((defaultRuns * global) / DEFAULT_RUNS)) };
}

/**
 * A hang guard for a test that runs properties: `defaultMs` at the default
 * budget, scaled by the budget the environment asks for (the large budget
 * runs ten times as many cases, so it may take ten times as long). Only a
 * bound against a hang: no test may depend on the machine's speed.
 */
export function hangGuardMs(defaultMs: number, env: NodeJS.ProcessEnv = process.env): number {
  return Math.round(defaultMs * Math.max(1, budgetFromEnv(env).numRuns / DEFAULT_RUNS));
}
