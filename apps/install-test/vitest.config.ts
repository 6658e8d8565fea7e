import { defineConfig } from 'vitest/config';

// Packing and installing takes a while, and the npm registry (needed for the dependencies of core and the testkit) is sometimes slow.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
  },
});
