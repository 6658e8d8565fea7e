/**
 * An open-model HTTP/1.1 load generator for the latency bench (src/latency.ts): requests are
 * scheduled at fixed intended times (request k at k / rate seconds from the start), whatever the
 * server does, and each latency is measured from its INTENDED send time. A server that stalls
 * makes the requests due meanwhile wait, and their wait shows up as latency, not as fewer samples
 * (coordinated omission, which closed-model tools such as wrk, hey, siege and autocannon have;
 * wrk2 and vegeta are the usual open-model tools, and neither is packaged in Debian).
 *
 * Built to be cheap: raw `node:net` keep-alive sockets, one pre-built request buffer, a response
 * parser that reads only the status line and Content-Length, and Node's HDR histogram
 * (`perf_hooks.createHistogram`). A pump sends every request whose intended time has passed on
 * an idle connection (oldest first; queued while every connection is busy) and sleeps until the
 * next one is due. Connections are used in turn (first idle, first used), so every one stays warm
 * and the server's workers share the load as they share the connections.
 *
 * Each run is bounded: the schedule stops after `seconds`, outstanding requests get `drainMs`,
 * and whatever is still unanswered then counts as unfinished, with its latency so far recorded
 * (a lower bound: a stall is never hidden). Loopback only.
 */
import { connect, type Socket } from 'node:net';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { assertLoopback } from './wrk.js';

export interface RateLoadOptions {
  /** A loopback http:// URL; GET. */
  url: string;
  /** Requests per second, spread evenly. */
  rate: number;
  /** Seconds of schedule. */
  seconds: number;
  /** Keep-alive connections, at most one request in flight on each. */
  connections: number;
  /** How long outstanding requests get once the schedule ends. Default 2000. */
  drainMs?: number;
  /**
   * Seconds of the same schedule before the measured ones, recorded nowhere: the generator's
   * own code gets compiled and every connection used before anything counts. Default 0.
   */
  warmupSeconds?: number;
}

export interface RateLoadCounts {
  /** Requests whose intended time fell within the run. */
  scheduled: number;
  /** Requests written to a socket. */
  sent: number;
  /** Responses read in full. */
  completed: number;
  non2xx: number;
  /** Requests lost to a socket that failed or closed under them, and connections that failed. */
  socketErrors: number;
  /** Requests still unanswered (or never sent) when the drain time ran out. */
  unfinished: number;
}

/** What one generator thread measured; histograms in microseconds. */
export interface RateLoadRaw {
  /** From each request's intended send time to its response's last byte. */
  latency: RecordableHistogram;
  /**
   * The generator's own lag: for requests that found a connection free when they fell due, from
   * the intended time to the write. Small when the generator keeps its schedule.
   */
  pacing: RecordableHistogram;
  counts: RateLoadCounts;
  /** Seconds from the first intended send to the end of the schedule. */
  seconds: number;
}

const US_PER_MS = 1000;
/** Longest sleep between two looks at the sockets while requests are due within 2 ms. */
const SLICE_MS = 0.1;
/** Beyond this wait the pump sleeps on a timer instead (1 ms granularity). */
const TIMER_MS = 2;

export const newHistogram = (): RecordableHistogram => createHistogram({ lowest: 1, highest: 60e6, figures: 3 });

/** The intended send time of request `k`, in ms after the start. */
export const intendedMs = (k: number, rate: number): number => (k * 1000) / rate;

/** How many requests have fallen due `elapsedMs` after the start (request 0 at once), at most `total`. */
export function dueCount(elapsedMs: number, rate: number, total: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(total, Math.floor((elapsedMs * rate) / 1000) + 1);
}

/** Percentiles of a histogram in microseconds, as milliseconds. */
export function summarize(histogram: RecordableHistogram): { p50: number; p99: number; p999: number; max: number } {
  if (histogram.count === 0) return { p50: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN };
  const ms = (us: number) => us / US_PER_MS;
  return {
    p50: ms(histogram.percentile(50)),
    p99: ms(histogram.percentile(99)),
    p999: ms(histogram.percentile(99.9)),
    max: ms(histogram.max),
  };
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

/**
 * Reads HTTP/1.1 responses off a byte stream, as little as it can: the status code, and the
 * Content-Length to skip the body. Responses may be split over chunks or share one. A response
 * it cannot frame that way (chunked, or delimited by close) throws: the bench's apps always send
 * a length.
 */
export class ResponseParser {
  #pending: Buffer | undefined;
  #bodyLeft = -1;
  #status = 0;

  constructor(private readonly onResponse: (status: number) => void) {}

  feed(chunk: Buffer): void {
    const buffer = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    let offset = 0;
    while (offset < buffer.length) {
      if (this.#bodyLeft < 0) {
        const end = buffer.indexOf(HEAD_END, offset);
        if (end === -1) {
          this.#pending = buffer.subarray(offset);
          return;
        }
        this.#readHead(buffer.toString('latin1', offset, end + 2));
        offset = end + HEAD_END.length;
      }
      const take = Math.min(this.#bodyLeft, buffer.length - offset);
      this.#bodyLeft -= take;
      offset += take;
      if (this.#bodyLeft === 0) {
        this.#bodyLeft = -1;
        this.onResponse(this.#status);
      }
    }
  }

  #readHead(head: string): void {
    const status = Number(head.slice(9, 12));
    if (!head.startsWith('HTTP/1.') || !Number.isInteger(status)) {
      throw new Error(`not an HTTP/1.x response: ${JSON.stringify(head.slice(0, 40))}`);
    }
    const length = CONTENT_LENGTH.exec(head);
    const bodiless = status < 200 || status === 204 || status === 304;
    if (!length && !bodiless) throw new Error(`a ${status} response without Content-Length`);
    this.#status = status;
    this.#bodyLeft = bodiless ? 0 : Number(length?.[1]);
  }
}

interface Connection {
  socket: Socket;
  /** The intended send time (ms, performance.now()) of the request in flight, if any. */
  inFlight: number | undefined;
  ready: boolean;
}

/** One generator run on the current thread. */
export async function generate(options: RateLoadOptions): Promise<RateLoadRaw> {
  assertLoopback(options.url);
  const url = new URL(options.url);
  if (url.protocol !== 'http:') throw new Error(`rate-load speaks plain HTTP/1.1 only, not ${url.protocol}`);
  const { rate, seconds } = options;
  if (!(rate > 0) || !(seconds > 0) || !(options.connections >= 1)) {
    throw new Error('rate-load needs a positive rate, seconds and connections');
  }
  const request = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`, 'latin1');
  const port = Number(url.port || 80);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const warmup = Math.round(rate * (options.warmupSeconds ?? 0));
  const total = warmup + Math.max(1, Math.round(rate * seconds));
  const drainMs = options.drainMs ?? 2000;
  const latency = newHistogram();
  const pacing = newHistogram();
  const counts: RateLoadCounts = {
    scheduled: total - warmup,
    sent: 0,
    completed: 0,
    non2xx: 0,
    socketErrors: 0,
    unfinished: 0,
  };
  /** Requests intended before this (ms, performance.now()) are the warm-up's. */
  let measuredFrom = Number.POSITIVE_INFINITY;
  const record = (histogram: RecordableHistogram, ms: number) =>
    histogram.record(Math.max(1, Math.round(ms * US_PER_MS)));

  /** Intended times of requests due but waiting for a free connection, oldest first. */
  const queue: number[] = [];
  let queueHead = 0;
  const idle: Connection[] = [];
  const all = new Set<Connection>();
  /** Set once the drain is over: nothing more is sent or counted. */
  let finished = false;
  let reconnects = 0;
  /** Set while draining: called whenever a response comes in. */
  let drained: (() => void) | undefined;

  const send = (connection: Connection, intended: number) => {
    connection.inFlight = intended;
    if (intended >= measuredFrom) counts.sent++;
    connection.socket.write(request);
  };
  /** A connection is free: the oldest waiting request goes out on it, else it waits its turn. */
  const release = (connection: Connection) => {
    if (queueHead < queue.length && !finished) send(connection, queue[queueHead++] as number);
    else idle.push(connection);
  };
  const open = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const connection: Connection = {
        socket: connect({ host, port, noDelay: true }),
        inFlight: undefined,
        ready: false,
      };
      all.add(connection);
      const parser = new ResponseParser((status) => {
        const intended = connection.inFlight;
        connection.inFlight = undefined;
        if (intended === undefined) return;
        if (intended < measuredFrom) return release(connection);
        record(latency, performance.now() - intended);
        counts.completed++;
        if (status < 200 || status >= 300) counts.non2xx++;
        release(connection);
        drained?.();
      });
      connection.socket.on('connect', () => {
        connection.ready = true;
        resolve();
        release(connection);
      });
      connection.socket.on('data', (chunk: Buffer) => {
        try {
          parser.feed(chunk);
        } catch {
          connection.socket.destroy();
        }
      });
      connection.socket.on('error', () => {});
      connection.socket.on('close', () => {
        all.delete(connection);
        if (finished) return;
        const at = idle.indexOf(connection);
        if (at !== -1) idle.splice(at, 1);
        // The request it carried is lost; an idle connection the server closed (its keep-alive
        // timeout) is no error. Either way a new one takes its place while the run goes on.
        if (connection.inFlight !== undefined || !connection.ready) counts.socketErrors++;
        if (!connection.ready) reject(new Error(`cannot connect to ${url.host}`));
        if (reconnects++ < options.connections * 10) open().catch(() => {});
        drained?.();
      });
    });

  try {
    await Promise.all(Array.from({ length: options.connections }, open));
  } catch (error) {
    finished = true;
    for (const connection of all) connection.socket.destroy();
    throw error;
  }
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const start = performance.now();
  measuredFrom = start + intendedMs(warmup, rate);
  let next = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      const now = performance.now();
      const due = dueCount(now - start, rate, total);
      for (; next < due; next++) {
        const intended = start + intendedMs(next, rate);
        const connection = queueHead === queue.length ? idle.shift() : undefined;
        if (connection) {
          if (intended >= measuredFrom) record(pacing, now - intended);
          send(connection, intended);
        } else queue.push(intended);
      }
      if (next >= total) return resolve();
      const wait = start + intendedMs(next, rate) - performance.now();
      if (wait > TIMER_MS) setTimeout(pump, wait - 1);
      else {
        // Sub-millisecond sleep without a busy loop: a futex wait, then one turn of the event
        // loop to read what the sockets got meanwhile.
        if (wait > 0) Atomics.wait(signal, 0, 0, Math.min(wait, SLICE_MS));
        setImmediate(pump);
      }
    };
    pump();
  });
  const scheduleSeconds = (performance.now() - measuredFrom) / 1000;
  const outstanding = () => [...all].some((c) => c.inFlight !== undefined) || queueHead < queue.length;
  if (outstanding()) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, drainMs);
      drained = () => {
        if (outstanding()) return;
        clearTimeout(timer);
        resolve();
      };
    });
  }
  finished = true;
  // Whatever is unanswered now counts, with its wait so far: a stall is never dropped.
  const end = performance.now();
  for (const intended of [...queue.slice(queueHead), ...[...all].flatMap((c) => c.inFlight ?? [])]) {
    record(latency, end - intended);
    counts.unfinished++;
  }
  for (const connection of all) connection.socket.destroy();
  return { latency, pacing, counts, seconds: Math.max(scheduleSeconds, (total - warmup - 1) / rate) };
}
