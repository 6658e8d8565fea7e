import type { ChildProcess } from 'node:child_process';
import { isWorkerMessage, type WorkerMessage } from '../ipc/protocol.js';
import { type Logger, LogThrottle } from '../observability/logger.js';
import { DURATION_BUCKETS, type StatusStats, statusTotals, type WorkerStats } from '../observability/stats.js';

/**
 * What a worker sends on its IPC channel is untrusted input: workers run the app, maybe as
 * another user (-u), while the arbiter is often root. Each message is checked here before the
 * arbiter acts on it: its shape (numbers where numbers go: finite, whole where they count, within
 * bounds; own keys only), and its sizes. A bad one is dropped and logged (at most once a second
 * per worker); nothing a worker sends can throw in the arbiter or reach Object.prototype.
 *
 * The checks are cheap (a heartbeat comes up to a few times a second per worker): about 5 µs for a
 * heartbeat with five statuses, less than Node's own JSON parsing of it.
 */

/** Largest number a worker may report: counts, bytes and seconds alike. */
export const MAX_REPORTED = Number.MAX_SAFE_INTEGER;
/** `kelpie:accept`: connections a worker may ask for in one message, and hold asked for at once. */
export const MAX_ACCEPT_COUNT = 1_000_000;
/**
 * `kelpie:accept`'s `hold`: the credits a worker may say are for connections it holds. The arbiter
 * keeps its own descriptor of each lent one, so this bounds what a worker can make it keep open.
 */
export const MAX_HOLD = 16;
/** Statuses 100-599 and `other`: the slots a worker counts in. */
const MAX_STATUSES = 501;
const BUCKETS = DURATION_BUCKETS.length + 1;
const STATUS_KEY = /^(?:[1-5]\d\d|other)$/;
const RETIRING_REASONS = ['crash', 'max_requests'] as const;
/** Every message type a worker sends (ipc/protocol.ts describes each). */
export const WORKER_MESSAGE_TYPES = [
  'kelpie:ready',
  'kelpie:heartbeat',
  'kelpie:accept',
  'kelpie:returned',
  'kelpie:dup',
  'kelpie:retiring',
  'kelpie:listened',
] as const satisfies readonly WorkerMessage['type'][];
/** `kelpie:listened`: states a worker may report (one per listening socket), and what one may be. */
const MAX_LISTEN_STATES = 1024;
const LISTEN_STATE = /^(?:ok|UNKNOWN|E[A-Z0-9]{1,30})$/;
/** How much of a worker's text (a type, a key) goes into the arbiter's log. */
const QUOTED_LENGTH = 40;

export type CheckedMessage = { ok: true; message: WorkerMessage } | { ok: false; error: string };

type Fields = Record<string, unknown>;

/** Thrown inside the checks only; becomes `{ ok: false }`. */
class Bad extends Error {}

const isFields = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** An own field only: an inherited one (Object.prototype's) is absent. */
const field = (from: Fields, key: string): unknown => (Object.hasOwn(from, key) ? from[key] : undefined);

/** Text of a worker's, for the log: quoted and escaped (no line breaks), and cut short. */
function quote(text: string): string {
  const shown = JSON.stringify(text.slice(0, QUOTED_LENGTH));
  return text.length > QUOTED_LENGTH ? `${shown} (${text.length} characters)` : shown;
}

/** A value, described for the log without repeating what a worker wrote. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `an ${typeof value}`;
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

// Names of fields are only built for an error: a good heartbeat costs comparisons, not strings.
function countError(value: unknown, name: string): Bad {
  return new Bad(`${name} must be a whole number from 0 to ${MAX_REPORTED}, not ${describe(value)}`);
}

function count(value: unknown, name: string): number {
  if (isCount(value)) return value;
  throw countError(value, name);
}

function amount(value: unknown, name: () => string): number {
  // NaN fails both comparisons; JSON has no Infinity, but a bound holds anyway.
  if (typeof value === 'number' && value >= 0 && value <= MAX_REPORTED) return value;
  throw new Bad(`${name()} must be a number from 0 to ${MAX_REPORTED}, not ${describe(value)}`);
}

function object(value: unknown, name: () => string): Fields {
  if (isFields(value)) return value;
  throw new Bad(`${name()} must be an object, not ${describe(value)}`);
}

function statusStats(value: unknown, key: string): StatusStats {
  const name = () => `stats.statuses[${JSON.stringify(key)}]`;
  const stats = object(value, name);
  const from = field(stats, 'buckets');
  if (!Array.isArray(from) || from.length !== BUCKETS) {
    throw new Bad(`${name()}.buckets must be an array of ${BUCKETS} counts, not ${describe(from)}`);
  }
  const n = field(stats, 'count');
  if (!isCount(n)) throw countError(n, `${name()}.count`);
  const buckets = new Array<number>(BUCKETS);
  for (let i = 0; i < BUCKETS; i++) {
    const bucket: unknown = from[i];
    if (!isCount(bucket)) throw countError(bucket, `${name()}.buckets[${i}]`);
    buckets[i] = bucket;
  }
  return { count: n, sum: amount(field(stats, 'sum'), () => `${name()}.sum`), buckets };
}

/** Responses by status: a prototype-free record, so no key (`__proto__`) is special in it. */
function statuses(value: unknown): Record<string, StatusStats> {
  const from = object(value, () => 'stats.statuses');
  const keys = Object.keys(from);
  if (keys.length > MAX_STATUSES) {
    throw new Bad(`stats.statuses has ${keys.length} keys, more than the ${MAX_STATUSES} statuses there are`);
  }
  const out = statusTotals();
  for (const key of keys) {
    if (!STATUS_KEY.test(key)) throw new Bad(`stats.statuses has a key ${quote(key)} that is not a status code`);
    out[key] = statusStats(from[key], key);
  }
  return out;
}

function workerStats(value: unknown): WorkerStats {
  const stats = object(value, () => 'stats');
  const statusesField = field(stats, 'statuses');
  return {
    requests: count(field(stats, 'requests'), 'stats.requests'),
    inFlight: count(field(stats, 'inFlight'), 'stats.inFlight'),
    rss: count(field(stats, 'rss'), 'stats.rss'),
    lag: amount(field(stats, 'lag'), () => 'stats.lag'),
    ...(statusesField === undefined ? {} : { statuses: statuses(statusesField) }),
  };
}

/** `kelpie:listened`: one state per spare descriptor, each `ok` or an error's name (EADDRINUSE). */
function listenStates(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_LISTEN_STATES) {
    throw new Bad(`states must be an array of at most ${MAX_LISTEN_STATES} states, not ${describe(value)}`);
  }
  return value.map((state: unknown, i) => {
    if (typeof state === 'string' && LISTEN_STATE.test(state)) return state;
    throw new Bad(
      `states[${i}] must be "ok" or an error name, not ${typeof state === 'string' ? quote(state) : describe(state)}`,
    );
  });
}

/** `kelpie:accept`: `count` more connections, and `hold` (optional) of the credits for holding. */
function acceptMessage(from: Fields): WorkerMessage {
  const n = field(from, 'count');
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_ACCEPT_COUNT) {
    throw new Bad(`count must be a whole number from 1 to ${MAX_ACCEPT_COUNT}, not ${describe(n)}`);
  }
  const hold = field(from, 'hold');
  if (hold === undefined) return { type: 'kelpie:accept', count: n };
  if (typeof hold !== 'number' || !Number.isInteger(hold) || hold < 0 || hold > MAX_HOLD) {
    throw new Bad(`hold must be a whole number from 0 to ${MAX_HOLD}, not ${describe(hold)}`);
  }
  return { type: 'kelpie:accept', count: n, hold };
}

/** A fresh message holding only the fields the arbiter reads, each checked. */
function parse(type: string, from: Fields): WorkerMessage {
  switch (type) {
    case 'kelpie:ready':
      return { type: 'kelpie:ready' };
    case 'kelpie:heartbeat': {
      const stats = field(from, 'stats');
      return stats === undefined
        ? { type: 'kelpie:heartbeat' }
        : { type: 'kelpie:heartbeat', stats: workerStats(stats) };
    }
    case 'kelpie:accept':
      return acceptMessage(from);
    case 'kelpie:returned': {
      const id = field(from, 'id');
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
        throw new Bad(`id must be the number of a held connection, not ${describe(id)}`);
      }
      return { type: 'kelpie:returned', id };
    }
    case 'kelpie:dup': {
      const listener = field(from, 'listener');
      if (typeof listener !== 'number' || !Number.isSafeInteger(listener) || listener < 0) {
        throw new Bad(`listener must be the index of a listening socket, not ${describe(listener)}`);
      }
      return { type: 'kelpie:dup', listener };
    }
    case 'kelpie:retiring': {
      const reason = field(from, 'reason');
      const known = RETIRING_REASONS.find((r) => r === reason);
      if (!known) throw new Bad(`reason must be "crash" or "max_requests", not ${describe(reason)}`);
      return { type: 'kelpie:retiring', reason: known };
    }
    case 'kelpie:listened':
      return { type: 'kelpie:listened', states: listenStates(field(from, 'states')) };
    default:
      throw new Bad(`unknown message type ${quote(type)}`);
  }
}

/**
 * Check one message from a worker. Undefined: not kelpie's (an app may use the channel for its
 * own messages; those are ignored). Otherwise the checked message, or why it is dropped.
 */
export function checkWorkerMessage(value: unknown): CheckedMessage | undefined {
  if (!isWorkerMessage(value) || !Object.hasOwn(value, 'type')) return undefined;
  const type = value.type;
  try {
    return { ok: true, message: parse(type, value as unknown as Fields) };
  } catch (error) {
    if (!(error instanceof Bad)) throw error;
    const known = (WORKER_MESSAGE_TYPES as readonly string[]).includes(type);
    return { ok: false, error: known ? `${type}: ${error.message}` : error.message };
  }
}

/** Reports dropped messages: at most one line a second per worker, counting the ones held back. */
export class BadMessageLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  /** Keyed by the arbiter's record of a worker: forgotten with it. */
  readonly #reported = new WeakMap<object, LogThrottle>();
  readonly #failures: LogThrottle;

  constructor(log: Logger, intervalMs = 1000) {
    this.#log = log;
    this.#intervalMs = intervalMs;
    this.#failures = new LogThrottle(intervalMs);
  }

  drop(worker: { pid: number }, error: string): void {
    let throttle = this.#reported.get(worker);
    if (!throttle) {
      throttle = new LogThrottle(this.#intervalMs);
      this.#reported.set(worker, throttle);
    }
    const heldBack = throttle.take();
    if (heldBack === undefined) return;
    const more = heldBack > 0 ? ` (and ${heldBack} more since the last report)` : '';
    this.#log.warning(`Worker (pid:${worker.pid}) sent a bad message, dropped it: ${error}${more}`);
  }

  /** Handling a good message threw (a bug of the arbiter's): logged, and the arbiter goes on. */
  failed(worker: { pid: number }, error: unknown): void {
    if (this.#failures.take() === undefined) return;
    this.#log.error(`Error handling a message from worker (pid:${worker.pid})`, error);
  }
}

/** Close a descriptor a worker sent (net.Socket, net.Server, dgram.Socket or a raw handle). */
function discard(handle: unknown): void {
  const h = handle as { destroy?: () => void; close?: () => void };
  try {
    if (typeof h.destroy === 'function') h.destroy();
    else if (typeof h.close === 'function') h.close();
  } catch {
    // Closed already.
  }
}

/**
 * Listen to a worker's messages: `handler` gets each good kelpie message, checked. A bad one is
 * dropped and reported, a descriptor a worker attaches is closed (the arbiter never asks for
 * one), and nothing thrown while handling a message reaches the arbiter's event loop.
 */
export function onWorkerMessages(
  child: ChildProcess,
  worker: { pid: number },
  report: BadMessageLog,
  handler: (message: WorkerMessage) => void,
): void {
  child.on('message', (value: unknown, handle: unknown) => {
    try {
      if (handle) {
        discard(handle);
        report.drop(worker, 'a message with a descriptor attached (closed it)');
        return;
      }
      const checked = checkWorkerMessage(value);
      if (!checked) return;
      if (!checked.ok) {
        report.drop(worker, checked.error);
        return;
      }
      handler(checked.message);
    } catch (error) {
      report.failed(worker, error);
    }
  });
}
