/**
 * One thread of the open-model load generator (src/rate-load.ts), started by
 * src/rate-load-runner.ts with its share of the rate and connections as workerData; it posts
 * back its histograms (which clone across threads) and counts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { generate, type RateLoadOptions } from './rate-load.js';

// A failure rejects unhandled, which ends the thread with an 'error' event for the runner.
void generate(workerData as RateLoadOptions).then((result) => parentPort?.postMessage(result));
