/**
 * Runs the open-model generator (src/rate-load.ts) on one or more worker threads of the harness
 * process, each with its share of the rate and the connections, and merges what they measured
 * into one result: percentiles from intended send times, the rate achieved, errors, and whether
 * the generator kept its own schedule. The harness's main thread only waits meanwhile.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { newHistogram, type RateLoadCounts, type RateLoadOptions, type RateLoadRaw, summarize } from './rate-load.js';

/** The thread's script, next to this module's bundle. */
const script = fileURLToPath(new URL('./rate-load-worker.js', import.meta.url));

/**
 * Above this p99 of its own lag (intended time to write, for requests that found a connection
 * free) the generator did not keep the schedule, and latencies include its delay: the result says so.
 */
export const GENERATOR_LAG_LIMIT_MS = 1;
/** Below this share of the target rate answered, the run did not hold the rate. */
export const KEPT_RATE_SHARE = 0.95;

export interface RateLoadResult {
  targetRate: number;
  /** Responses per second over the schedule's seconds. */
  achievedRate: number;
  /** Milliseconds, from each request's intended send time. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Non-2xx answers and requests lost to a failed socket. */
  errors: number;
  /** Requests still unanswered when the drain time ran out (a server that fell behind the rate). */
  unfinished: number;
  counts: RateLoadCounts;
  /** The generator's own lag, p99 in milliseconds (see GENERATOR_LAG_LIMIT_MS). */
  generatorLagP99: number;
  /** Why the figures are suspect: the generator lagged, or the server did not keep the rate. */
  warnings: string[];
}

/**
 * One raw measurement from several: the threads of one run (side by side: the longest one's
 * seconds), or the rounds of one side at one rate (one after another: their seconds add up).
 */
export function mergeRaw(parts: RateLoadRaw[], sequential = false): RateLoadRaw {
  const latency = newHistogram();
  const pacing = newHistogram();
  const counts: RateLoadCounts = { scheduled: 0, sent: 0, completed: 0, non2xx: 0, socketErrors: 0, unfinished: 0 };
  for (const part of parts) {
    latency.add(part.latency);
    pacing.add(part.pacing);
    for (const key of Object.keys(counts) as (keyof RateLoadCounts)[]) counts[key] += part.counts[key];
  }
  const seconds = parts.map((part) => part.seconds);
  return {
    latency,
    pacing,
    counts,
    seconds: sequential ? seconds.reduce((a, b) => a + b, 0) : Math.max(0, ...seconds),
  };
}

/** Percentiles, rates and warnings from a raw measurement of `targetRate` over its seconds. */
export function rateLoadResult(raw: RateLoadRaw, targetRate: number): RateLoadResult {
  const { p50, p99, p999, max } = summarize(raw.latency);
  const generatorLagP99 = raw.pacing.count ? raw.pacing.percentile(99) / 1000 : 0;
  const achievedRate = raw.counts.completed / raw.seconds;
  const warnings: string[] = [];
  if (generatorLagP99 > GENERATOR_LAG_LIMIT_MS) {
    warnings.push(`generator lagged (p99 ${generatorLagP99.toFixed(1)} ms): latencies include its delay`);
  }
  if (achievedRate < KEPT_RATE_SHARE * targetRate) {
    warnings.push(`rate not held: ${Math.round(achievedRate)} of ${Math.round(targetRate)}/s answered`);
  }
  const { non2xx, socketErrors, unfinished } = raw.counts;
  return {
    targetRate,
    achievedRate,
    p50,
    p99,
    p999,
    max,
    errors: non2xx + socketErrors,
    unfinished,
    counts: raw.counts,
    generatorLagP99,
    warnings,
  };
}

/** One run split over `threads` generator threads; resolves with the raw, merged measurement. */
export async function runRateLoad(options: RateLoadOptions & { threads: number }): Promise<RateLoadRaw> {
  const { threads, ...load } = options;
  const share: RateLoadOptions = {
    ...load,
    rate: load.rate / threads,
    connections: Math.max(1, Math.round(load.connections / threads)),
  };
  const limitMs = (load.seconds + 30) * 1000 + (load.drainMs ?? 2000);
  const workers = Array.from({ length: threads }, () => new Worker(script, { workerData: share }));
  try {
    const parts = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<RateLoadRaw>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`rate-load thread still running after ${limitMs} ms`)),
              limitMs,
            );
            worker.once('message', (raw: RateLoadRaw) => {
              clearTimeout(timer);
              resolve(raw);
            });
            worker.once('error', (error) => {
              clearTimeout(timer);
              reject(error);
            });
          }),
      ),
    );
    return mergeRaw(parts);
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
