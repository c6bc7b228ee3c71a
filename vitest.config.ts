import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.cache/**'],
    // The property budget (IOMMUFD_SPEC_BUDGET, IOMMUFD_SPEC_SEED) is installed in every
    // worker: pinned seed and default runs for `npm test`, `large` for `npm run conformance`.
    setupFiles: ['spec/testing/vitest.setup.ts'],
    testTimeout: 60_000,
    pool: 'threads',
  },
});
