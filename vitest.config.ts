import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { hangGuardMs } from './spec/testing/property-budget.ts';
import { LongRunningFirst } from './spec/testing/sequencer.test-support.ts';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.cache/**'],
    // The property budget (IOMMUFD_SPEC_BUDGET, IOMMUFD_SPEC_SEED) is installed in every
    // worker: pinned seed and default runs for `npm test`, `large` for `npm run conformance`.
    setupFiles: ['spec/testing/vitest.setup.ts'],
    // No test may depend on the machine's speed: these are hang guards, not
    // speed bounds, scaled by the property budget (the large budget runs ten
    // times the cases). The slowest test takes minutes with both cores busy;
    // a hang still ends the run, after 10 minutes × the budget's factor.
    testTimeout: hangGuardMs(10 * 60_000),
    hookTimeout: hangGuardMs(10 * 60_000),
    pool: 'threads',
    // The test files of a worker share its modules: no test depends on a fresh module
    // state, and loading the suite's module graph again for each of ninety files was a
    // fifth of the CPU time of `npm run conformance` (3 min 50 s isolated, 3 min 10 s not).
    isolate: false,
    // The checks that run longest start first, also where vitest has no timings yet (spec/testing/sequencer.test-support.ts).
    sequence: { sequencer: LongRunningFirst },
    // Every core: vitest's default for a run is one fewer, which on the two cores CI has is a
    // single worker, the test files one after another (nothing here needs a core to itself).
    maxWorkers: availableParallelism(),
  },
});
