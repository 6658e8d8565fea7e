/**
 * @kelpie/worker-testkit: the conformance suite for kelpie worker classes (checks.ts), and the
 * helpers it is built on, for an author's own tests: start real kelpie processes (process.ts)
 * and talk to them over loopback (http.ts). Register the suite with `./vitest` or `./node-test`.
 */
export {
  APP_SHAPES,
  type AppShape,
  type Check,
  type ConformanceOptions,
  conformanceChecks,
  workerArgument,
  workerLabel,
} from './checks.js';
export { freePort, type GetOptions, get, type Reply, rawExchange } from './http.js';
export { type Load, type LoadOptions, type LoadStats, startLoad } from './load.js';
export {
  defaultBin,
  type KelpieProcess,
  processAlive,
  type StartOptions,
  startKelpie,
  stopAll,
  waitUntil,
} from './process.js';
