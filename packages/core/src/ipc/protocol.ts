import type { Settings } from '../config/settings.js';
import type { ProxyHeader } from '../http/proxy-protocol.js';
import type { TlsMaterial } from '../http/tls.js';
import type { WorkerStats } from '../observability/stats.js';

/**
 * Messages on the IPC channel between the arbiter and a worker process. Signals carry the
 * lifecycle commands (TERM, QUIT, INT, ABRT, USR1), as in Gunicorn, so a worker behaves the same
 * whether the arbiter or an operator sends them; the channel carries data.
 */

/** What a worker inherits: descriptor number in the worker, and the bind it came from. */
export interface InheritedListener {
  fd: number;
  bind: string;
  url: string;
  /** TLS: the certificate, key and CA contents, read by the arbiter. */
  tls?: TlsMaterial;
  /** --reuse-port: the TCP address a worker binds a socket of its own on. */
  reusePort?: { host: string; port: number };
}

/** Arbiter → worker, once, right after spawn. */
export interface BootMessage {
  type: 'kelpie:boot';
  /** Spawn counter: the oldest workers have the lowest age (Gunicorn's worker.age). */
  age: number;
  settings: Settings;
  appModule: string;
  /** Absolute path of the module that provides the worker class, and the export to use. */
  workerModule: string;
  workerExport: string;
  listeners: InheritedListener[];
  /** Folders plugins are looked up from (the project, then the kelpie command's install). */
  searchFrom: string[];
  /** The config file in effect, if any. */
  configFile?: string;
  /** The config file defines worker hooks: the worker loads it for them. */
  workerHooks?: boolean;
}

/**
 * Arbiter → worker, for worker classes whose connections the arbiter accepts (`static accept =
 * 'arbiter'`), and under --sticky: one accepted connection, its socket handle attached to the message.
 */
export interface ConnectionMessage {
  type: 'kelpie:connection';
  /** Index into the worker's `listeners`: which socket accepted it. */
  listener: number;
  /**
   * --sticky with --proxy-protocol: the arbiter read the start of the connection to find the
   * client's address. What it read is here, and the worker does not read a PROXY header again.
   */
  read?: {
    /** The PROXY header, or null when the connection did not start with one. */
    header: ProxyHeader | null;
    /** The bytes read after the header (or all of them, without one), base64: the worker reads them first. */
    rest: string;
  };
  /**
   * `accept = 'arbiter'` classes: sent while the worker serves another connection (it asked for
   * one to hold). The worker keeps it unread until it is free, or gives it back on
   * `kelpie:release` with `kelpie:returned` and this id; the arbiter keeps its own descriptor of
   * it until then (SPEC.md 2.11).
   */
  held?: number;
}

/**
 * Arbiter → worker, `accept = 'arbiter'` classes: another worker is idle and no connection waits,
 * so give back every held connection not started yet (`kelpie:returned`).
 */
export interface ReleaseMessage {
  type: 'kelpie:release';
}

/** Arbiter → worker: a new descriptor for a listening socket, asked for with `kelpie:dup`. */
export interface ListenerMessage {
  type: 'kelpie:listener';
  listener: number;
}

/** Worker → arbiter. Untrusted: the arbiter checks each one first (arbiter/worker-messages.ts). */
export type WorkerMessage =
  /** The app is loaded and the worker serves on every listener. */
  | { type: 'kelpie:ready' }
  /** The event loop is alive (sent from a timer, so a blocked loop stops sending). */
  | {
      type: 'kelpie:heartbeat';
      /** Requests, memory and event-loop lag (for `kelpie ctl`, /metrics and --max-worker-memory). */
      stats?: WorkerStats;
    }
  /**
   * `accept = 'arbiter'` classes: the worker can take `count` more connections. `hold`, once given,
   * stands: with that many credits or fewer left it is serving, and holds what it is sent (SPEC.md 2.11).
   */
  | { type: 'kelpie:accept'; count: number; hold?: number }
  /**
   * `accept = 'arbiter'` classes, after `kelpie:release`: the worker closed its descriptor of the
   * held connection `id` without reading it; the arbiter hands its own to another worker.
   */
  | { type: 'kelpie:returned'; id: number }
  /** Send me another descriptor of listener `listener` (for threads that each accept on their own). */
  | { type: 'kelpie:dup'; listener: number }
  /**
   * The worker has begun to stop on its own (an uncaught exception or unhandled rejection:
   * `crash`; its --max-requests share reached: `max_requests`): it accepts no more connections
   * and drains, and the arbiter starts its replacement now rather than at its exit.
   */
  | { type: 'kelpie:retiring'; reason: 'crash' | 'max_requests' }
  /**
   * The first worker put the arbiter's sockets to listen(2) on spare descriptors
   * (LISTEN_SPARES_ENV, SPEC.md 3.1): `'ok'` or the error's name, per descriptor in order.
   */
  | { type: 'kelpie:listened'; states: string[] };

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    (value as { type: string }).type.startsWith('kelpie:')
  );
}

/** First descriptor a worker inherits listeners at: 0-2 are stdio, 3 is the IPC channel. */
export const FIRST_LISTENER_FD = 4;

/**
 * Set for the first worker only: `BACKLOG:FD,FD...`, spare descriptors (after the listeners) of the
 * sockets the arbiter bound, which that worker puts to listen(2) and closes before loading anything
 * (worker/listen-spares.ts), then reports with `kelpie:listened`. Removed from its environment at once.
 */
export const LISTEN_SPARES_ENV = 'KELPIE_LISTEN_SPARES';

/**
 * How long a worker drains after an uncaught exception before it drops what is left: its
 * in-flight requests may finish, but the process is in an unknown state, so not for the whole
 * --graceful-timeout. Five seconds, or --graceful-timeout when that is shorter.
 */
export const CRASH_DRAIN_SECONDS = 5;

export function crashDrainSeconds(gracefulTimeout: number): number {
  return Math.min(CRASH_DRAIN_SECONDS, gracefulTimeout);
}
