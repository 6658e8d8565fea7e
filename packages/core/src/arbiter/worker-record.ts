import type { ChildProcess } from 'node:child_process';
import type { WorkerStats } from '../observability/stats.js';
import type { ClientHandle } from './listeners.js';

/**
 * The arbiter's record of one worker process: what the pool (pool.ts) decides on, what the
 * dispatch (dispatch.ts, sticky.ts) hands connections to, and what the views (views.ts) show.
 */

/** A connection handed to a worker to hold: the arbiter's descriptor stays open until the worker starts it. */
export interface LentConnection {
  id: number;
  client: ClientHandle;
  listener: number;
}

/**
 * Why a worker leaves while the server runs: sent away by the arbiter, or on its own word
 * (`kelpie:retiring`: crash, max_requests). All but `scale` start a replacement.
 */
export type RetireReason = 'reload' | 'memory' | 'killed' | 'scale' | 'crash' | 'max_requests';

export interface WorkerRecord {
  pid: number;
  age: number;
  child: ChildProcess;
  lastBeat: number;
  ready: boolean;
  /** Replaced by a reload: retired once a new worker is ready. */
  outdated: boolean;
  /** The reload (HUP) count when it was spawned. */
  generation: number;
  /** Sent TERM to leave (surplus, outdated, stopping). */
  retiring: boolean;
  /** SIGABRT sent after a missed heartbeat, then SIGKILL. */
  abortedAt: number | null;
  killedAfterTimeout: boolean;
  /** SIGKILL sent because a stop outlived --graceful-timeout. */
  killedAfterGraceful: boolean;
  /** Arbiter dispatch: connections the worker asked for and has not been sent yet. */
  credits: number;
  /**
   * `kelpie:accept`'s `hold`, the last one it gave (0 until then): with this many credits or fewer
   * left it is serving, and a connection sent to it is lent, to hold (dispatch.ts).
   */
  hold: number;
  /** Connections sent to it to hold while it serves another, with the arbiter's own descriptor of each. */
  lent: LentConnection[];
  /** `kelpie:release` sent since the last connection lent to it. */
  releaseAsked: boolean;
  /** Resident memory in bytes, from the last heartbeat. */
  rss: number;
  /** When the worker was first seen above --max-worker-memory, in this stretch. */
  overMemorySince: number | null;
  /** Spawn time, ms since the epoch. */
  startedAt: number;
  /** Requests, memory and lag from the last heartbeat. */
  stats: WorkerStats | null;
  /** Why it was sent TERM or is leaving on its own (a restart reason for /metrics, or a scale-down that is none). */
  retireReason: RetireReason | null;
  /** Crash-loop backoff: the quick exits in a row of the workers this one replaces (its slot). */
  quickExits: number;
  /** After an uncaught exception: SIGKILL if it outlives its drain deadline. */
  drainTimer: NodeJS.Timeout | undefined;
  killedAfterDrain: boolean;
  /** --sticky: its place in the pool (sticky.ts); a replacement takes the slot its predecessor left. */
  slot: number;
}

/** The record of a worker just spawned. */
export function newWorkerRecord(
  child: ChildProcess & { pid: number },
  fields: Pick<WorkerRecord, 'age' | 'generation' | 'quickExits' | 'slot'>,
): WorkerRecord {
  return {
    pid: child.pid,
    age: fields.age,
    child,
    lastBeat: Date.now(),
    ready: false,
    outdated: false,
    generation: fields.generation,
    retiring: false,
    abortedAt: null,
    killedAfterTimeout: false,
    killedAfterGraceful: false,
    credits: 0,
    hold: 0,
    lent: [],
    releaseAsked: false,
    rss: 0,
    overMemorySince: null,
    startedAt: Date.now(),
    stats: null,
    retireReason: null,
    quickExits: fields.quickExits,
    drainTimer: undefined,
    killedAfterDrain: false,
    slot: fields.slot,
  };
}
