import { defineConfig } from 'vitest/config';

// Each test starts real kelpie processes; one file at a time keeps timing checks (timeouts,
// graceful stops) from competing for the machine's cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
  },
});
