import { defineConfig } from 'vitest/config';

// The harness's own logic; the benchmarks themselves run with `pnpm bench`, never as tests.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
