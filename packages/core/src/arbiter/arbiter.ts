import { runHook, type ServerView } from '../config/hooks.js';
import { MAX_WORKERS } from '../config/settings.js';
import { exitCodeOf, isKelpieError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { loadTlsMaterial } from '../http/tls.js';
import { reopenLogFiles } from '../observability/logger.js';
import type { MetricsSnapshot } from '../observability/metrics.js';
import { type ArbiterAction, type KelpieSignal, signalsFor } from '../signals.js';
import { VERSION } from '../version.js';
import { resolveIdentity } from './accounts.js';
import { ArbiterContext, type ArbiterOptions } from './context.js';
import type { ServerStatus } from './control.js';
import { checkOpenFilesLimit } from './descriptors.js';
import { ArbiterDispatch } from './dispatch.js';
import { HupReload } from './hup.js';
import { ListenInWorker } from './listen-in-worker.js';
import { needingListen, openListeners, startListening } from './listeners.js';
import { Monitoring } from './monitoring.js';
import { WorkerPool } from './pool.js';
import { checkSticky } from './sticky.js';
import { Upgrade } from './upgrade.js';
import { healthy, metricsSnapshot, serverStatus } from './views.js';

/**
 * The arbiter: binds the listeners, keeps `workers` worker processes alive, and turns signals
 * into lifecycle actions, as Gunicorn's arbiter does. This file holds its state machine
 * (starting, running, stopping, stopped), its signal handling (from the signals table,
 * ../signals.ts) and its public face; the parts live beside it: the worker pool (pool.ts, its
 * decisions in pool-decisions.ts, spawn.ts), HUP (hup.ts), the USR2/WINCH upgrade (upgrade.ts),
 * the arbiter's own accepting for `accept = 'arbiter'` classes and --sticky (dispatch.ts,
 * sticky.ts), the views (views.ts) and the control socket and metrics (monitoring.ts).
 *
 * Everything is event-driven: signals and child exits arrive as events, one timer checks
 * heartbeats. See SPEC.md for the signal table and the messages.
 */

export type { ArbiterOptions, Reconfiguration } from './context.js';

type HandledAction = Exclude<ArbiterAction, 'default'>;

export class Arbiter {
  readonly #ctx: ArbiterContext;
  readonly #pool: WorkerPool;
  readonly #dispatch: ArbiterDispatch;
  readonly #hup: HupReload;
  readonly #upgrade: Upgrade;
  readonly #monitoring: Monitoring;
  #exitCode: number = ExitCode.OK;
  /** Why the arbiter halted on its own (a worker that could not boot), for the last log line. */
  #haltReason: string | null = null;
  /** A stop signal that arrived while the listeners were still being bound. */
  #stopWhileStarting: boolean | null = null;
  #killTimer: NodeJS.Timeout | undefined;
  #handlers = new Map<KelpieSignal, () => void>();
  #done!: (code: number) => void;
  readonly #finished: Promise<number>;

  constructor(options: ArbiterOptions) {
    const ctx = new ArbiterContext(options);
    this.#ctx = ctx;
    this.#dispatch = new ArbiterDispatch(ctx);
    this.#pool = new WorkerPool(ctx, {
      halt: (reason, exitCode) => {
        this.#haltReason = reason;
        this.stop(false, exitCode);
      },
      ready: () => this.#dispatch.workerReady(),
      credits: (worker, count) => this.#dispatch.credits(worker, count),
      returned: (worker, id) => this.#dispatch.returned(worker, id),
      exited: (worker) => this.#dispatch.exited(worker),
      exitedWhileStopping: () => this.#maybeFinish(),
    });
    this.#hup = new HupReload(ctx, this.#pool);
    this.#upgrade = new Upgrade(ctx, this.#pool, () => this.#monitoring.upgradeRolledBack());
    this.#monitoring = new Monitoring(ctx, this, this.#pool, this.#upgrade);
    this.#finished = new Promise((resolve) => {
      this.#done = resolve;
    });
  }

  /** Start, then resolve with the exit status once the arbiter has stopped. */
  async run(): Promise<number> {
    const ctx = this.#ctx;
    process.title = `kelpie: master [${ctx.settings.procName ?? ctx.options.appModule}]`;
    ctx.log.info(`Starting kelpie ${VERSION}`);
    // Handlers go in first: a TERM during the bind retries must not kill the arbiter by default action.
    this.#installSignalHandlers();
    await runHook(ctx.hooks, 'onStarting', ctx.log, this.view());
    try {
      checkSticky(ctx.settings, ctx.options.worker.workerClass);
      this.#pool.identity = resolveIdentity(ctx.settings.user, ctx.settings.group);
      this.#upgrade.begin();
      ctx.tls = ctx.options.tls ?? loadTlsMaterial(ctx.settings);
      ctx.listeners = await openListeners(ctx.settings, ctx.log);
    } catch (error) {
      this.#removeSignalHandlers();
      this.#upgrade.removePidfile();
      throw error;
    }
    this.#dispatch.start();
    ctx.phase = 'running';
    if (this.#stopWhileStarting !== null) {
      this.stop(this.#stopWhileStarting);
      return this.#finished;
    }
    // The first workers boot while the sockets are put to listen(2), by the first of them (SPEC.md 3.1).
    const inWorker = this.#listenInFirstWorker();
    this.#pool.manage();
    const listening = await this.#listen(inWorker?.states);
    this.#pool.listenInWorker = undefined;
    if (!listening) return this.#finished;
    this.#announceListeners();
    this.#pool.startHeartbeatChecks();
    this.#upgrade.watchForPromotion();
    this.#pool.startMemoryChecks();
    if (ctx.settings.reload) this.#hup.watch();
    await this.#monitoring.start();
    return this.#finished;
  }

  /**
   * The first worker is to listen for the arbiter, on spare descriptors: unless nothing needs
   * listen(2), the arbiter accepts itself, or workers run another script than core's worker-main.
   */
  #listenInFirstWorker(): ListenInWorker | undefined {
    const ctx = this.#ctx;
    const pending = needingListen(ctx.listeners);
    if (!pending.length || this.#dispatch.accepting || ctx.options.workerMain) return undefined;
    this.#pool.listenInWorker = new ListenInWorker(pending);
    return this.#pool.listenInWorker;
  }

  /**
   * listen(2) on the sockets bound here, unless the arbiter accepts on them itself (dispatch.ts
   * listened as it started). False once the arbiter is stopping: a signal came meanwhile, or
   * listening failed, which stops the workers just spawned.
   */
  async #listen(inWorker: Promise<string[] | undefined> | undefined): Promise<boolean> {
    const ctx = this.#ctx;
    try {
      if (!this.#dispatch.accepting) {
        const by = await startListening(ctx.listeners, ctx.settings.backlog, inWorker);
        if (by !== 'none')
          ctx.log.debug(`listen(2) done by ${by === 'worker' ? 'the first worker' : 'a helper process'}`);
      }
    } catch (error) {
      ctx.log.error(error instanceof Error ? error.message : String(error), isKelpieError(error) ? undefined : error);
      this.stop(false, exitCodeOf(error));
    }
    return ctx.phase === 'running';
  }

  /** The listeners listen: say where, and what serves them. */
  #announceListeners(): void {
    const { log, listeners, options, settings } = this.#ctx;
    for (const listener of listeners) log.info(`Listening at: ${this.#ctx.urlOf(listener)} (${process.pid})`);
    options.onListening?.();
    log.info(`Using worker: ${options.worker.meta.name}`);
    if (process.env.NODE_ENV === undefined) {
      log.info('NODE_ENV is not set: workers run with NODE_ENV=production (-e NODE_ENV=... sets another)');
    }
    checkOpenFilesLimit(
      { ...settings, workerClass: options.worker.meta.name, arbiterAccepts: this.#dispatch.accepting },
      log,
    );
  }

  /** USR1: open the log files again here and in every worker; the errors, as text. */
  reopenLogs(): string[] {
    const errors = reopenLogFiles().map((error) => error.message);
    for (const message of errors) this.#ctx.log.error(`Could not reopen a log file: ${message}`);
    for (const worker of this.#ctx.workers.values()) worker.child.kill('SIGUSR1');
    return errors;
  }

  /** The server and each worker, for `kelpie ctl status` and `top`. */
  status(): ServerStatus {
    return serverStatus(this.#ctx);
  }

  /** For /metrics. */
  metricsSnapshot(): MetricsSnapshot {
    return metricsSnapshot(this.#ctx, this.#pool);
  }

  /** /healthz: every worker booted (once), some worker serving now, and not shutting down. */
  healthy(): boolean {
    return healthy(this.#ctx, this.#pool);
  }

  /** What server hooks see of the arbiter. */
  view(): ServerView {
    return this.#ctx.view();
  }

  /** TTIN/TTOU: change the target number of workers (never below 1). */
  setWorkerCount(count: number): void {
    const ctx = this.#ctx;
    if (!ctx.running) return;
    const next = Math.min(MAX_WORKERS, Math.max(1, count));
    if (count > MAX_WORKERS) ctx.log.warning(`Cannot run more than ${MAX_WORKERS} workers (--workers' maximum)`);
    if (next === ctx.numWorkers) return;
    ctx.changeWorkerCount(next);
    this.#pool.manage();
  }

  /** HUP: start a new generation of workers with freshly loaded app code; retire the old ones as the new ones get ready. */
  reload(): void {
    this.#hup.reload();
  }

  /** TERM (graceful) or INT/QUIT (quick). */
  stop(graceful: boolean, exitCode: number = ExitCode.OK): void {
    const ctx = this.#ctx;
    if (ctx.phase === 'stopped') return;
    if (ctx.phase === 'stopping') {
      // A quick stop during a graceful one hurries the workers along.
      if (!graceful) this.#pool.signalAll('SIGQUIT');
      return;
    }
    ctx.phase = 'stopping';
    this.#exitCode = exitCode;
    this.#pool.stopChecks();
    this.#hup.stopWatching();
    this.#upgrade.stopWatchingForPromotion();
    // Nothing more starts: a spawn batch still to come, or a restart the backoff holds back.
    this.#pool.cancelStarts();
    // A unix socket file stays while the other arbiter of a binary upgrade still uses it.
    this.#upgrade.maybePromote();
    const keepFile = this.#upgrade.underWay;
    for (const listener of ctx.listeners) listener.close({ keepFile });
    this.#dispatch.close();
    this.#pool.signalAll(graceful ? 'SIGTERM' : 'SIGQUIT');
    // Workers end their own drain at --graceful-timeout; the arbiter's SIGKILL comes a second
    // later, for workers that could not (a blocked event loop).
    this.#killTimer = setTimeout(() => this.#pool.killAll(), ctx.settings.gracefulTimeout * 1000 + 1000);
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    const ctx = this.#ctx;
    if (ctx.phase !== 'stopping' || ctx.workers.size > 0) return;
    ctx.phase = 'stopped';
    clearTimeout(this.#killTimer);
    // Kept until now: `kelpie ctl status` and /healthz (503) answer during the drain.
    this.#monitoring.close();
    this.#removeSignalHandlers();
    this.#upgrade.removePidfile();
    ctx.log.info('Shutting down: Master');
    if (this.#haltReason) ctx.log.error(`Reason: ${this.#haltReason}`);
    void runHook(ctx.hooks, 'onExit', ctx.log, this.view()).then(() => this.#done(this.#exitCode));
  }

  /** What the arbiter does for each action of the signals table's `arbiter` column. */
  #actions(): Record<HandledAction, () => void> {
    return {
      'stop-graceful': () => this.stop(true),
      'stop-quick': () => this.stop(false),
      reload: () => this.reload(),
      'add-worker': () => this.setWorkerCount(this.#ctx.numWorkers + 1),
      'remove-worker': () => this.setWorkerCount(this.#ctx.numWorkers - 1),
      // logrotate: open the log files again here and in every worker.
      'reopen-logs': () => this.reopenLogs(),
      upgrade: () => void this.#upgrade.reexec(),
      'stop-workers': () => this.#upgrade.winch(),
    };
  }

  #installSignalHandlers(): void {
    const actions = this.#actions();
    for (const [signal, action] of signalsFor('arbiter')) {
      const handler = () => this.#onSignal(signal, action, actions[action]);
      this.#handlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  #onSignal(signal: KelpieSignal, action: HandledAction, act: () => void): void {
    const name = signal.slice(3).toLowerCase();
    this.#ctx.log.info(`Handling signal: ${name}`);
    if (this.#ctx.phase === 'starting') {
      // TERM, INT and QUIT are carried out once the listeners are bound; the others are ignored.
      if (action === 'stop-graceful') this.#stopWhileStarting = true;
      if (action === 'stop-quick') this.#stopWhileStarting = false;
      return;
    }
    act();
  }

  #removeSignalHandlers(): void {
    for (const [signal, handler] of this.#handlers) process.off(signal, handler);
    this.#handlers.clear();
  }
}
