/**
 * The signals table: every signal kelpie handles, with what each of its three kinds of process
 * does with it, as Gunicorn's `handle_<sig>` methods say for its arbiter. The arbiter
 * (arbiter/arbiter.ts) installs its handlers from the `arbiter` column, a worker from the
 * `worker` column, kelpie as PID 1 (the kelpie package's init.ts) from the `pid1` column;
 * docs/signals.md describes every row (docs.test.ts checks it names them). A signal added to
 * `KelpieSignal` without a row, or an action without a handler, does not compile.
 *
 * This module imports nothing: the arbiter, the worker runtime and the CLI all read it.
 */

/** What the arbiter does with a signal. */
export type ArbiterAction =
  /** TERM: close the listeners, drain the workers, exit. */
  | 'stop-graceful'
  /** INT, QUIT: close the listeners, stop the workers at once (hurries a graceful stop). */
  | 'stop-quick'
  /** HUP: read the configuration again and replace the workers. */
  | 'reload'
  /** TTIN: one worker more. */
  | 'add-worker'
  /** TTOU: one worker fewer, the oldest leaves. */
  | 'remove-worker'
  /** USR1: open the log files again, here and in every worker. */
  | 'reopen-logs'
  /** USR2: start a new arbiter with the listening sockets. */
  | 'upgrade'
  /** WINCH: stop every worker, keep the arbiter and its sockets. */
  | 'stop-workers'
  /** Not handled: Node's default action. */
  | 'default';

/** What a worker process does with a signal. */
export type WorkerAction =
  /** TERM: stop accepting, drain, run the shutdown hooks, exit 0. */
  | 'stop-graceful'
  /** INT, QUIT: drop every connection and exit 0 at once. */
  | 'stop-quick'
  /** ABRT (after a WORKER TIMEOUT): run the workerAbort hook and exit 1. */
  | 'abort'
  /** USR1: open the log files again. */
  | 'reopen-logs'
  /** Meant for the arbiter: ignored, so one sent to the whole process group ends no worker. */
  | 'ignore';

/** What kelpie as PID 1 (running the real kelpie under tini) does with a signal. */
export type Pid1Action =
  /** Pass it straight on to the arbiter (tini itself would not pass TTIN and TTOU on). */
  | 'forward'
  /** USR2: refused with a warning; the old arbiter leaving would end the container. */
  | 'refuse-upgrade'
  /** Not handled: Node's default action. */
  | 'default';

/** The signals kelpie handles in one of its processes. */
export type KelpieSignal =
  | 'SIGTERM'
  | 'SIGINT'
  | 'SIGQUIT'
  | 'SIGHUP'
  | 'SIGTTIN'
  | 'SIGTTOU'
  | 'SIGUSR1'
  | 'SIGUSR2'
  | 'SIGWINCH'
  | 'SIGABRT';

export interface SignalRow {
  readonly arbiter: ArbiterAction;
  readonly worker: WorkerAction;
  readonly pid1: Pid1Action;
}

/** One row per signal, in the order the arbiter installs its handlers. */
export const SIGNALS: { readonly [S in KelpieSignal]: SignalRow } = {
  SIGHUP: { arbiter: 'reload', worker: 'ignore', pid1: 'forward' },
  SIGTERM: { arbiter: 'stop-graceful', worker: 'stop-graceful', pid1: 'forward' },
  SIGINT: { arbiter: 'stop-quick', worker: 'stop-quick', pid1: 'forward' },
  SIGQUIT: { arbiter: 'stop-quick', worker: 'stop-quick', pid1: 'forward' },
  SIGTTIN: { arbiter: 'add-worker', worker: 'ignore', pid1: 'forward' },
  SIGTTOU: { arbiter: 'remove-worker', worker: 'ignore', pid1: 'forward' },
  SIGUSR1: { arbiter: 'reopen-logs', worker: 'reopen-logs', pid1: 'forward' },
  SIGUSR2: { arbiter: 'upgrade', worker: 'ignore', pid1: 'refuse-upgrade' },
  SIGWINCH: { arbiter: 'stop-workers', worker: 'ignore', pid1: 'forward' },
  // Sent by the arbiter to a worker after a missed heartbeat; the arbiter and PID 1 keep Node's default.
  SIGABRT: { arbiter: 'default', worker: 'abort', pid1: 'default' },
};

/** The signals of the table, in its order. */
export const KELPIE_SIGNALS = Object.keys(SIGNALS) as KelpieSignal[];

/** The signals `process` of one kind handles (its column is not `default`), with what it does, in the table's order. */
export function signalsFor<P extends keyof SignalRow>(
  process: P,
): [signal: KelpieSignal, action: Exclude<SignalRow[P], 'default'>][] {
  const rows: [KelpieSignal, Exclude<SignalRow[P], 'default'>][] = [];
  for (const signal of KELPIE_SIGNALS) {
    const action = SIGNALS[signal][process];
    if (action !== 'default') rows.push([signal, action as Exclude<SignalRow[P], 'default'>]);
  }
  return rows;
}
