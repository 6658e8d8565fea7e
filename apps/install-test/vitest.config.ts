import { defineConfig } from 'vitest/config';

// Packing and installing takes a while; the npm registry is needed for core's own dependencies.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
