/**
 * The order vitest starts test files in. Vitest starts the longest first by
 * the timings it cached from earlier runs, and without them (a fresh clone:
 * every CI run, a newcomer's first `npm run conformance`) the largest files
 * first. The checks that run the suite against faults are small files that
 * run longest: left to size, the unseen-fault check started last and ran a
 * minute and a half alone on one core (the conformance checks took 3 min 14 s
 * from a fresh clone, 2 min 48 s with timings cached). These files go first,
 * in this order; the rest keep vitest's.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const LONG_RUNNING = [
  'conformance/mutants/unseen-killed.test.ts',
  'conformance/mutants/catalogue-killed.test.ts',
  'impl/iommufd/device_props.test.ts',
  'impl/iommufd/fuzz.test.ts',
  'conformance/programs/corpus-ref-7.3.test.ts',
  'conformance/programs/corpus-ref-6.12.test.ts',
  'conformance/mutants/answer-faults.test.ts',
] as const;

function rank(spec: TestSpecification): number {
  const i = LONG_RUNNING.findIndex((path) => spec.moduleId.endsWith(`/${path}`));
  return i < 0 ? LONG_RUNNING.length : i;
}

export class LongRunningFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    // Array.prototype.sort is stable: files of equal rank keep vitest's order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}
