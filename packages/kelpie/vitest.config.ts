import { defineConfig } from 'vitest/config';

// Process-level tests: each starts real kelpie processes. Files run one at a time so timing-
// sensitive checks (timeouts, graceful stops) do not compete for the machine's cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
