import { describe, it } from 'node:test';
import { type ConformanceOptions, conformanceChecks, workerLabel } from './checks.js';

/**
 * Register the conformance suite for a worker class with node:test, one test per check:
 *
 *     import { testWorker } from '@kelpie/worker-testkit/node-test';
 *     testWorker({ worker: 'timed' });
 */
export function testWorker(options: ConformanceOptions, title?: string): void {
  const checks = conformanceChecks(options);
  describe(title ?? `kelpie worker conformance: -k ${workerLabel(options.worker, options.cwd)}`, () => {
    for (const check of checks) it(`${check.id}: ${check.title}`, { timeout: check.timeoutMs }, check.run);
  });
}

export type { AppShape, Check, ConformanceOptions } from './checks.js';
