import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.cache/**'],
    // The property budget (IOMMUFD_SPEC_BUDGET, IOMMUFD_SPEC_SEED) is installed in every
    // worker: pinned seed and default runs for `npm test`, `large` for `npm run conformance`.
    setupFiles: ['spec/testing/vitest.setup.ts'],
    // Property tests use pinned seeds here; `npm run conformance` runs larger budgets.
    // No test may depend on the machine's speed: these are hang guards, not
    // speed bounds. The slowest test (the corpus on the reference) takes ~20 s
    // with both cores busy; a hang still ends the run, after 10 minutes.
    testTimeout: 10 * 60_000,
    hookTimeout: 10 * 60_000,
    pool: 'threads',
  },
});
