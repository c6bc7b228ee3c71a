/**
 * The whole corpus on the reference, profile 7.3: every program's verdict
 * (conformance/programs/verdict.ts) passes against expectations/ref.json — no
 * violation or error, no step skipped unless an unsupported entry lists it,
 * no listed skip that runs — and the verdicts are the same in-process (a new
 * adapter per program) and over `serve` behind a stdio proxy (one adapter,
 * `reset` between programs) in file order, reversed, and a seeded shuffle.
 */
import { describe } from 'vitest';
import { correctOnReference, sameVerdictsOverServe } from './corpus-ref.test-support.ts';

describe('the corpus on the reference, 7.3', () => {
  correctOnReference('7.3');
  sameVerdictsOverServe('7.3');
});
