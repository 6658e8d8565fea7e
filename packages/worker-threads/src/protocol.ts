import type { ErrorCode, InheritedListener, Settings } from '@kelpie/core';

/**
 * What the process's main thread and its app threads share. Per-request facts travel through
 * shared memory, never messages, so they cost nothing on the request path: a heartbeat counter,
 * the requests in progress (their socket descriptors, so a 503 can still reach a client after
 * its thread is terminated), and the process's request count for --max-requests.
 */

export interface ThreadData {
  /** 1-based, for logs: "thread 2". */
  index: number;
  settings: Settings;
  appModule: string;
  cwd: string;
  searchFrom: readonly string[];
  /** kelpie's listener URLs, for an app that starts its own server (its `address()`). */
  urls: readonly string[];
  /** The config file, when it defines preRequest or postRequest hooks: the thread loads it for them. */
  hooksFile?: string;
  /** Int32Array: [0] heartbeat counter, [1] the quick stop's flush answer, then SLOTS in-flight slots. */
  state: SharedArrayBuffer;
  /** The requests started by every thread of this process: core's RequestCount, shared (`share()`). */
  requests: SharedArrayBuffer;
  maxRequests: number;
  /** The thread's request statistics (core's RequestStats), read by the main thread for heartbeats. */
  stats: SharedArrayBuffer;
  /** The accept board every thread of the process shares (accept-policy.ts). */
  board: SharedArrayBuffer;
}

/** Index of the heartbeat counter in `state`. */
export const BEAT = 0;
/**
 * Index of the quick stop's cell in `state`: the main thread sets it to 0 and sends `flush-logs`;
 * the thread sets it to 1 (Atomics.notify) once its access log lines are written.
 */
export const FLUSHED = 1;
/** In-flight requests tracked per thread for 503s; requests beyond it just lose their connection. */
export const SLOTS = 256;
/** `state` length in Int32 elements. */
export const STATE_LENGTH = 2 + SLOTS;

/** A slot holds fd + 1 while its request has not sent headers yet, else 0. */
export const slotIndex = (slot: number): number => 2 + slot;

/** Main thread → app thread. */
export type ToThread =
  /** Accept on these descriptors (one per listener, each the thread's own). */
  | { type: 'listen'; listeners: InheritedListener[] }
  /** Graceful stop: finish in-flight requests, run the app's shutdown hook, exit. */
  | { type: 'drain' }
  /** USR1 reached the process: open the thread's log files again. */
  | { type: 'reopen' }
  /** Quick stop: write the access log's lines synchronously, then answer in `state[FLUSHED]`. */
  | { type: 'flush-logs' }
  /** The descriptor asked for with `dup`. */
  | { type: 'fd'; id: number; fd: number };

/** App thread → main thread. */
export type FromThread =
  | { type: 'loaded' }
  /** Loading the app failed: the KelpieError's code and message, and the stack of its cause. */
  | { type: 'load-error'; code: ErrorCode; message: string; stack: string | undefined }
  | { type: 'listening' }
  | { type: 'listen-error'; message: string }
  | { type: 'drained' }
  | { type: 'max-requests' }
  /** A fresh descriptor of listener `listener`, to accept on again after pausing (answered with `fd`). */
  | { type: 'dup'; id: number; listener: number };
