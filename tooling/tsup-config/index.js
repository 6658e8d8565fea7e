// The single build preset for every kelpie package. Packages call `preset()` from their
// tsup.config.ts, adding entries only when they ship more than `src/index.ts` (a bin, a
// worker entry script). Keeping the options here means the bundler can be swapped in one place.
import { defineConfig } from 'tsup';

/**
 * @param {{ entry?: string[] | Record<string, string> }} [options]
 */
export function preset(options = {}) {
  return defineConfig({
    entry: options.entry ?? ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    // tsup splits ESM output into shared chunks by default, so a worker process loads one copy
    // of core's classes whether it reaches them from worker-main or from a worker package. CJS
    // stays unsplit: tsup's CJS splitting rewrites import() into require(), breaking ESM loading.
    shims: true,
    // Keep `node:` prefixes: `node:test` has no unprefixed form.
    removeNodeProtocol: false,
  });
}
