import { describe, it } from 'vitest';
import { type ConformanceOptions, conformanceChecks, workerLabel } from './checks.js';

/**
 * Register the conformance suite for a worker class with vitest, one test per check:
 *
 *     import { testWorker } from '@kelpie/worker-testkit/vitest';
 *     testWorker({ worker: new URL('../dist/index.js', import.meta.url) });
 */
export function testWorker(options: ConformanceOptions, title?: string): void {
  const checks = conformanceChecks(options);
  describe(title ?? `kelpie worker conformance: -k ${workerLabel(options.worker, options.cwd)}`, () => {
    for (const check of checks) it(`${check.id}: ${check.title}`, check.run, check.timeoutMs);
  });
}

export type { AppShape, Check, ConformanceOptions } from './checks.js';
