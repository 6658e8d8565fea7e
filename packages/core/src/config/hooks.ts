import type { IncomingMessage, ServerResponse } from 'node:http';
import { isKelpieError, KelpieError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { configTimeoutMs, expiryText, settleWithin } from './deadline.js';
import type { Settings } from './settings.js';

/**
 * Server hooks: Gunicorn's, camelCased, declared in the config file. Arbiter hooks run in the
 * kelpie process; worker hooks run in each worker process (which loads the config file for
 * them). A hook may be async; a throw or a rejection is logged and never stops the server.
 * Their signatures are ServerHooks; their names and processes the HOOKS table, checked against it.
 * The views hand hooks kelpie's Logger: the one import from outside config/ (a type only).
 */

/** What arbiter hooks see of the arbiter. */
export interface ServerView {
  readonly pid: number;
  readonly settings: Readonly<Settings>;
  readonly appModule: string;
  readonly log: Logger;
  /** The target number of workers. */
  readonly numWorkers: number;
  /** The worker processes alive now. */
  readonly workers: readonly WorkerView[];
}

/** What arbiter hooks see of a worker process. */
export interface WorkerView {
  /** 0 before it is spawned (preFork). */
  readonly pid: number;
  readonly age: number;
}

/** A worker process that exited (childExit). */
export interface ExitedWorkerView extends WorkerView {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What worker hooks see, in the worker process. */
export interface WorkerProcessView {
  readonly pid: number;
  readonly age: number;
  readonly settings: Readonly<Settings>;
  readonly log: Logger;
  /** Requests this worker has started. */
  readonly requests: number;
}

type Result = unknown;

export interface ServerHooks {
  /** Arbiter, before the listeners are bound. */
  onStarting?(server: ServerView): Result;
  /** Arbiter, on HUP, after the config file was read again and before new workers start. */
  onReload?(server: ServerView): Result;
  /** Arbiter, once every worker of the first generation serves. */
  whenReady?(server: ServerView): Result;
  /** Arbiter, just before a worker process is spawned (`worker.pid` is 0). */
  preFork?(server: ServerView, worker: WorkerView): Result;
  /** Arbiter, just after a worker process was spawned. */
  postFork?(server: ServerView, worker: WorkerView): Result;
  /** Worker, after the app is loaded and before it serves. */
  postWorkerInit?(worker: WorkerProcessView): Result;
  /** Worker, on INT or QUIT (quick stop). */
  workerInt?(worker: WorkerProcessView): Result;
  /** Worker, on ABRT (the arbiter's timeout). Synchronous only: the process exits right after. */
  workerAbort?(worker: WorkerProcessView): Result;
  /** Arbiter, before USR2 starts a new arbiter. */
  preExec?(server: ServerView): Result;
  /** Worker, before the app handles a request. Synchronous: a returned promise is not awaited. */
  preRequest?(worker: WorkerProcessView, req: IncomingMessage): Result;
  /** Worker, after the response has been sent. */
  postRequest?(worker: WorkerProcessView, req: IncomingMessage, res: ServerResponse): Result;
  /** Arbiter, after a worker process exited and was reaped. */
  childExit?(server: ServerView, worker: ExitedWorkerView): Result;
  /** Worker, just before the worker process exits (after a graceful drain, or a quick stop). */
  workerExit?(worker: WorkerProcessView): Result;
  /** Arbiter, when the target number of workers changes (TTIN, TTOU, HUP with a new -w). */
  nworkersChanged?(server: ServerView, newValue: number, oldValue: number): Result;
  /** Arbiter, just before kelpie exits. */
  onExit?(server: ServerView): Result;
}

export type HookName = keyof ServerHooks;

/** The process a hook runs in. */
export type HookProcess = 'arbiter' | 'worker';

/**
 * The one list of hook names, with the process each runs in, in the order docs/config.md lists
 * them. Checked against ServerHooks: a hook missing here, or one ServerHooks lacks, fails typecheck.
 */
export const HOOKS = {
  onStarting: 'arbiter',
  onReload: 'arbiter',
  whenReady: 'arbiter',
  preFork: 'arbiter',
  postFork: 'arbiter',
  postWorkerInit: 'worker',
  workerInt: 'worker',
  workerAbort: 'worker',
  preExec: 'arbiter',
  preRequest: 'worker',
  postRequest: 'worker',
  childExit: 'arbiter',
  workerExit: 'worker',
  nworkersChanged: 'arbiter',
  onExit: 'arbiter',
} as const satisfies Record<HookName, HookProcess>;

export const HOOK_NAMES: readonly HookName[] = Object.keys(HOOKS) as HookName[];

/** Hooks that run in worker processes: a worker loads the config file only when one is defined. */
export const WORKER_HOOKS: readonly HookName[] = HOOK_NAMES.filter((name) => HOOKS[name] === 'worker');

export function hasWorkerHooks(hooks: ServerHooks): boolean {
  return WORKER_HOOKS.some((name) => typeof hooks[name] === 'function');
}

/**
 * Hooks whose deadline ends kelpie: onStarting runs before anything is bound, and a server whose
 * start never finishes serves nothing. Other awaited hooks are logged and left behind.
 */
const FATAL_ON_DEADLINE: readonly HookName[] = ['onStarting'];

/**
 * Call a hook if it is defined. Resolves when an async hook settles; a throw or rejection is
 * logged (`Error in hook NAME`) and swallowed. Callers that must not wait ignore the promise.
 * A hook still pending after KELPIE_CONFIG_TIMEOUT (or once nothing is left that could settle
 * it) is logged and left behind; for onStarting that is a KELPIE_ERR_HOOK_TIMEOUT (exit 5).
 */
export async function runHook<N extends HookName>(
  hooks: ServerHooks,
  name: N,
  log: Logger,
  ...args: Parameters<NonNullable<ServerHooks[N]>>
): Promise<void> {
  const hook = hooks[name] as ((...a: unknown[]) => unknown) | undefined;
  if (typeof hook !== 'function') return;
  const fatal = FATAL_ON_DEADLINE.includes(name);
  try {
    const ms = configTimeoutMs();
    await settleWithin(hook.apply(hooks, args), ms, (expiry) => {
      const text = `Hook ${name} did not finish: it is ${expiryText(expiry)}`;
      return fatal ? new KelpieError('KELPIE_ERR_HOOK_TIMEOUT', text) : new HookStalled(text);
    });
  } catch (error) {
    if (error instanceof HookStalled) log.error(`${error.message} Going on without it.`);
    else if (isKelpieError(error) && error.code === 'KELPIE_ERR_HOOK_TIMEOUT') throw error;
    else log.error(`Error in hook ${name}`, error);
  }
}

/** A hook past its deadline that kelpie goes on without. */
class HookStalled extends Error {}

/** Call a hook without waiting: for per-request hooks and the abort path. Errors are logged. */
export function runHookNow<N extends HookName>(
  hooks: ServerHooks,
  name: N,
  log: Logger,
  ...args: Parameters<NonNullable<ServerHooks[N]>>
): void {
  const hook = hooks[name] as ((...a: unknown[]) => unknown) | undefined;
  if (typeof hook !== 'function') return;
  try {
    const result = hook.apply(hooks, args) as { then?: unknown } | undefined;
    if (result && typeof result.then === 'function') {
      (result as Promise<unknown>).then(undefined, (error: unknown) => log.error(`Error in hook ${name}`, error));
    }
  } catch (error) {
    log.error(`Error in hook ${name}`, error);
  }
}
