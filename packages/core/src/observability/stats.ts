import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * Request statistics of one worker: requests in flight, and (with --metrics-bind or
 * --statsd-host) responses counted by status with a histogram of their durations.
 *
 * The numbers live in a Float64Array written by one thread only, so the threads of `-k threads`
 * each get one inside a SharedArrayBuffer that the process's main thread reads and sums; no
 * message is sent per request. Workers send the sums to the arbiter with their heartbeat
 * (`WorkerStats`), which serves them to `kelpie ctl` and aggregates them for /metrics.
 */

/** Upper bounds (seconds) of the duration histogram: prom-client's default buckets. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Statuses 100-599 get a slot each; anything else (a 0 from a destroyed stream) shares the last. */
const STATUS_SLOTS = 501;
const OTHER_SLOT = 500;
/** Per status: count, sum of seconds, then one count per bucket (the last is +Inf). */
const PER_STATUS = 2 + DURATION_BUCKETS.length + 1;
const IN_FLIGHT = 0;
const FIRST_STATUS = 1;

/** Float64 elements a RequestStats buffer needs. */
export const REQUEST_STATS_LENGTH = FIRST_STATUS + STATUS_SLOTS * PER_STATUS;

/** Responses of one status: how many, their total duration, and the count per histogram bucket. */
export interface StatusStats {
  count: number;
  sum: number;
  /** Not cumulative: buckets[i] counts durations in (DURATION_BUCKETS[i-1], DURATION_BUCKETS[i]]; the last is above 10 s. */
  buckets: number[];
}

/** What a worker reports with each heartbeat. */
export interface WorkerStats {
  /** Requests started since the worker booted. */
  requests: number;
  inFlight: number;
  /** Resident memory, bytes. */
  rss: number;
  /** Event-loop delay: the largest seen since the last heartbeat, seconds. */
  lag: number;
  /** Finished responses by status code (present with --metrics-bind). */
  statuses?: Record<string, StatusStats>;
}

export class RequestStats {
  readonly values: Float64Array;

  constructor(buffer: ArrayBufferLike = new ArrayBuffer(REQUEST_STATS_LENGTH * 8)) {
    this.values = new Float64Array(buffer);
  }

  get inFlight(): number {
    return this.values[IN_FLIGHT] as number;
  }

  begin(): void {
    (this.values[IN_FLIGHT] as number)++;
  }

  /** Requests in flight as counted elsewhere (HttpServers' connections, without metrics). */
  setInFlight(count: number): void {
    this.values[IN_FLIGHT] = count;
  }

  /** A response is over (sent, or its connection lost). `seconds` < 0: not timed (in-flight only). */
  end(status: number, seconds: number): void {
    const values = this.values;
    (values[IN_FLIGHT] as number)--;
    if (seconds < 0) return;
    const slot = status >= 100 && status <= 599 ? status - 100 : OTHER_SLOT;
    const base = FIRST_STATUS + slot * PER_STATUS;
    (values[base] as number)++;
    (values[base + 1] as number) += seconds;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[bucket] as number)) bucket++;
    (values[base + 2 + bucket] as number)++;
  }

  /**
   * Add another buffer's numbers into this one (a thread's). `inFlight` false: only the finished
   * responses (the totals of a thread that is gone, whose unfinished requests never will be).
   */
  add(other: RequestStats, inFlight = true): void {
    const to = this.values;
    const from = other.values;
    for (let i = inFlight ? 0 : FIRST_STATUS; i < to.length; i++) (to[i] as number) += from[i] as number;
  }

  /** Counts by status, for the heartbeat: only statuses that occurred. */
  statuses(): Record<string, StatusStats> {
    const out: Record<string, StatusStats> = {};
    const values = this.values;
    for (let slot = 0; slot < STATUS_SLOTS; slot++) {
      const base = FIRST_STATUS + slot * PER_STATUS;
      const count = values[base] as number;
      if (count === 0) continue;
      out[slot === OTHER_SLOT ? 'other' : String(slot + 100)] = {
        count,
        sum: values[base + 1] as number,
        buckets: Array.from(values.subarray(base + 2, base + PER_STATUS)),
      };
    }
    return out;
  }
}

/**
 * An empty record of counts by status, without a prototype: a key from a worker (`__proto__`,
 * `constructor`) is a key like any other in it, never Object.prototype's.
 */
export function statusTotals(): Record<string, StatusStats> {
  return Object.create(null) as Record<string, StatusStats>;
}

/** Add `from`'s counts into `into` (both by status). Own keys only, on either side. */
export function addStatuses(into: Record<string, StatusStats>, from: Record<string, StatusStats> | undefined): void {
  if (!from) return;
  for (const [status, stats] of Object.entries(from)) {
    const target = Object.hasOwn(into, status) ? into[status] : undefined;
    if (!target) {
      // Defined, not assigned: `into['__proto__'] = ...` would replace a plain object's prototype.
      Object.defineProperty(into, status, {
        value: { count: stats.count, sum: stats.sum, buckets: [...stats.buckets] },
        enumerable: true,
        writable: true,
        configurable: true,
      });
      continue;
    }
    target.count += stats.count;
    target.sum += stats.sum;
    stats.buckets.forEach((n, i) => {
      target.buckets[i] = (target.buckets[i] ?? 0) + n;
    });
  }
}

/**
 * Add to `into` what `next` counts beyond `previous` (two reports of one worker, cumulative).
 * Counters never go down: a count below the previous report's adds nothing.
 */
export function addStatusDelta(
  into: Record<string, StatusStats>,
  next: Record<string, StatusStats> | undefined,
  previous: Record<string, StatusStats> | undefined,
): void {
  if (!next) return;
  const delta = statusTotals();
  for (const [status, stats] of Object.entries(next)) {
    const before = previous && Object.hasOwn(previous, status) ? previous[status] : undefined;
    delta[status] = {
      count: Math.max(0, stats.count - (before?.count ?? 0)),
      sum: Math.max(0, stats.sum - (before?.sum ?? 0)),
      buckets: stats.buckets.map((n, i) => Math.max(0, n - (before?.buckets[i] ?? 0))),
    };
  }
  addStatuses(into, delta);
}

const STATS_KEY = Symbol.for('kelpie.request-stats');
type StatsHolder = { [STATS_KEY]?: RequestStats };

/**
 * This thread's request statistics. One per thread (a second copy of core shares it through
 * globalThis); `-k threads` gives each thread a shared buffer with `useRequestStatsBuffer`.
 */
export function requestStats(): RequestStats {
  const holder = globalThis as StatsHolder;
  holder[STATS_KEY] ??= new RequestStats();
  return holder[STATS_KEY];
}

/** Count this thread's requests into `buffer` (a SharedArrayBuffer its parent reads). */
export function useRequestStatsBuffer(buffer: SharedArrayBuffer): void {
  (globalThis as StatsHolder)[STATS_KEY] = new RequestStats(buffer);
}

/** What a finished response tells the per-request observers (StatsD): its status and duration. */
export type ResponseObserver = (status: number, seconds: number) => void;

const STARTED = Symbol('kelpie.request-start');
type Timed = ServerResponse & { [STARTED]?: number };

/**
 * The per-request hook `HttpServers` puts on every response when metrics are on (`timed`:
 * --metrics-bind; `observer`: StatsD): counts the request in flight, then the status and
 * duration of its response. Undefined without metrics: nothing is done per request then.
 * Per request: one performance.now() stored on the response and one `close` listener shared
 * by every response (no closure per request).
 */
export function requestCounter(
  timed: boolean,
  observer?: ResponseObserver,
): ((req: IncomingMessage, res: ServerResponse) => void) | undefined {
  const stats = requestStats();
  if (!timed && !observer) return undefined;
  function closed(this: Timed): void {
    const seconds = (performance.now() - (this[STARTED] as number)) / 1000;
    stats.end(this.statusCode, seconds);
    observer?.(this.statusCode, seconds);
  }
  return (_req, res) => {
    stats.begin();
    (res as Timed)[STARTED] = performance.now();
    res.on('close', closed);
  };
}
