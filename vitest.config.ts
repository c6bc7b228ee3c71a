import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.cache/**'],
    // Property tests use pinned seeds here; `npm run conformance` runs larger budgets.
    testTimeout: 60_000,
    pool: 'threads',
  },
});
