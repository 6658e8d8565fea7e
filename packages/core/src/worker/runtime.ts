import { Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { pendingWork } from '../app/loader.js';
import { type AppSignals, routeAppSignals } from '../app/signals.js';
import { loadConfigFile } from '../config/config-file.js';
import { runHook, runHookNow, type ServerHooks, type WorkerProcessView } from '../config/hooks.js';
import { exitCodeOf, isKelpieError, KelpieError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import {
  type BootMessage,
  type ConnectionMessage,
  crashDrainSeconds,
  type ListenerMessage,
  type WorkerMessage,
} from '../ipc/protocol.js';
import { readAheadOf } from '../ipc/read-ahead.js';
import { errorLogSink, Logger, LogThrottle, reopenLogFiles } from '../observability/logger.js';
import { requestStats, type WorkerStats } from '../observability/stats.js';
import { isWorkerClass, type Worker, type WorkerChannel, type WorkerClass } from './worker.js';

/**
 * The worker process's side of the lifecycle: boot from the arbiter's message, heartbeat from
 * the event loop, and stop on signals. Worker classes never see this; they implement the
 * contract in worker.ts.
 */

/** When a worker says that the app's own shutdown is still running. */
const APP_SHUTDOWN_NOTICE_MS = 5000;

function send(message: WorkerMessage): void {
  if (!process.connected) return;
  // A failed send means the arbiter is gone; 'disconnect' handles that.
  process.send?.(message, undefined, {}, () => {});
}

/** How often the event loop reports in: well inside --timeout, at most once a second. */
export function heartbeatInterval(timeoutSeconds: number): number {
  if (timeoutSeconds <= 0) return 1000;
  return Math.max(50, Math.min(1000, (timeoutSeconds * 1000) / 4));
}

/** A socket handle as it arrives over IPC (Node's TCP or Pipe wrap). */
interface RawHandle {
  fd: number;
}

/**
 * Listener descriptors received for `duplicateListener`, by descriptor. Their handle objects stay
 * referenced here and are never closed by this thread: the descriptor belongs to whoever asked
 * for it (a worker thread, which cannot use a handle of this thread), unless that is this thread
 * and it takes the handle itself (`adoptDuplicate`).
 */
const duplicates = new Map<number, RawHandle>();

/**
 * The handle that came with descriptor `fd` from `duplicateListener`, if this thread received it:
 * the caller owns it from now on (listens on it, closes it), so that no second handle is opened
 * on the descriptor. Undefined in worker threads and for descriptors this thread did not receive.
 */
export function adoptDuplicate(fd: number): object | undefined {
  const handle = duplicates.get(fd);
  duplicates.delete(fd);
  return handle;
}

function createChannel(onMaxRequests: () => void): WorkerChannel {
  const waiting = new Map<number, ((fd: number) => void)[]>();
  process.on('message', (message: ListenerMessage, handle?: RawHandle) => {
    if (message?.type !== 'kelpie:listener' || !handle) return;
    duplicates.set(handle.fd, handle);
    waiting.get(message.listener)?.shift()?.(handle.fd);
  });
  return {
    requestConnections(count) {
      send({ type: 'kelpie:accept', count });
    },
    duplicateListener(index) {
      return new Promise((resolve) => {
        const queue = waiting.get(index) ?? [];
        queue.push(resolve);
        waiting.set(index, queue);
        send({ type: 'kelpie:dup', listener: index });
      });
    },
    maxRequestsReached: onMaxRequests,
  };
}

async function importWorkerClass(boot: BootMessage): Promise<WorkerClass> {
  const mod = (await import(pathToFileURL(boot.workerModule).href)) as Record<string, unknown>;
  const cls = mod[boot.workerExport];
  if (!isWorkerClass(cls)) {
    throw new KelpieError(
      'KELPIE_ERR_WORKER_INVALID',
      `${boot.workerModule} export "${boot.workerExport}" is not a worker class in this process`,
    );
  }
  return cls;
}

export async function runWorkerProcess(boot: BootMessage): Promise<void> {
  const { settings } = boot;
  const log = new Logger(settings.logLevel, errorLogSink(settings.errorLogfile), settings.logFormat);
  const title = settings.procName ?? boot.appModule;
  process.title = `kelpie: worker [${title}]`;
  log.info(`Booting worker with pid: ${process.pid}`);

  let worker: Worker | undefined;
  let phase: 'booting' | 'serving' | 'stopping' = 'booting';
  let hooks: ServerHooks = {};
  let finalReport: () => Promise<void> = async () => {};
  const view = (): WorkerProcessView =>
    worker?.view() ?? { pid: process.pid, age: boot.age, settings, log, requests: 0 };

  // The app's shutdown may replace process.exit's meaning (appShutdown); kelpie's exit is this one.
  const processExit = process.exit.bind(process);
  const exit = (code: number): never => {
    runHookNow(hooks, 'workerExit', log, view());
    log.info(`Worker exiting (pid: ${process.pid})`);
    return processExit(code);
  };
  let appSignals: AppSignals | undefined;

  /**
   * After the drain: the app's own SIGTERM (or SIGINT) listeners run once, and the stop goes on
   * when the app calls process.exit() (a normal exit, whatever its code) or its event loop has
   * nothing left to do; kelpie's own handles do not count, and the graceful deadline still holds.
   */
  const appShutdown = (code: number, deadline: NodeJS.Timeout): Promise<void> =>
    new Promise((resolve) => {
      if (!appSignals) return resolve();
      process.exit = ((appCode?: number | string | null) => {
        log.debug(`The app's shutdown called process.exit(${appCode ?? ''})`);
        exit(code);
      }) as typeof process.exit;
      process.once('beforeExit', () => {
        clearTimeout(notice);
        resolve();
      });
      process.channel?.unref();
      deadline.unref();
      // Said once, so that a stop that lasts to --graceful-timeout is explained.
      const notice = setTimeout(() => {
        const list = [...(pendingWork() ?? [])].map(([kind, count]) => `${kind} x${count}`).join(', ');
        log.info(
          `The app's own shutdown (its signal listener) is still running after ${APP_SHUTDOWN_NOTICE_MS / 1000} s: the worker exits when the app calls process.exit() or holds nothing open (it holds ${list || 'nothing kelpie can name'}), at the latest at --graceful-timeout`,
        );
      }, APP_SHUTDOWN_NOTICE_MS).unref();
      try {
        if (!appSignals.runShutdown()) resolve();
      } catch (error) {
        log.error("Error in the app's own shutdown (its signal listener)", error);
        resolve();
      }
    });

  // close() must be safe at any time (SPEC.md 2.2); a class whose close() throws still exits.
  const closeWorker = (): void => {
    try {
      worker?.close();
    } catch (error) {
      log.error('Error in the worker class close()', error);
    }
  };

  /**
   * `retiring`: the worker stops on its own, and a serving one tells the arbiter (kelpie:retiring)
   * so that its replacement starts now; after a crash it drains for crashDrainSeconds() only.
   */
  const stop = async (
    graceful: boolean,
    code: number = ExitCode.OK,
    retiring?: 'crash' | 'max_requests',
  ): Promise<void> => {
    if (phase === 'stopping') {
      if (!graceful) {
        closeWorker();
        exit(code);
      }
      return;
    }
    const wasServing = phase === 'serving';
    phase = 'stopping';
    if (!graceful || !wasServing || !worker) {
      closeWorker();
      exit(code);
      return;
    }
    if (retiring) send({ type: 'kelpie:retiring', reason: retiring });
    const crash = retiring === 'crash';
    const seconds = crash ? crashDrainSeconds(settings.gracefulTimeout) : settings.gracefulTimeout;
    /** Where the stop is: the app's own shutdown is told apart when the deadline comes. */
    let step: 'drain' | 'app' | 'upgraded' = 'drain';
    const deadline = setTimeout(() => {
      const what = crash ? 'Drain deadline after an uncaught exception' : 'Graceful timeout';
      log.warning(
        step === 'app'
          ? `${what} (${seconds}s) reached during the app's own shutdown; exiting`
          : `${what} (${seconds}s) reached; closing remaining connections`,
      );
      closeWorker();
      exit(code);
    }, seconds * 1000);
    try {
      // Requests only: upgraded connections (WebSockets) may be what the app's shutdown closes.
      await worker.drain();
      step = 'app';
      // The last counts, so the arbiter's totals (/metrics) include the requests just finished;
      // sent before the app's own shutdown, which may end the process.
      await finalReport();
      await worker.unload();
      await appShutdown(code, deadline);
      step = 'upgraded';
      await worker.drainUpgraded();
    } catch (error) {
      log.error('Error during graceful stop', error);
    }
    clearTimeout(deadline);
    exit(code);
  };

  // Signals, as Gunicorn's workers treat them.
  const quick = () => {
    runHookNow(hooks, 'workerInt', log, view());
    void stop(false);
  };
  process.on('SIGTERM', () => void stop(true));
  process.on('SIGINT', quick);
  process.on('SIGQUIT', quick);
  process.on('SIGABRT', () => {
    log.info(`Worker aborted (pid: ${process.pid})`);
    runHookNow(hooks, 'workerAbort', log, view());
    exit(ExitCode.ERROR);
  });
  // Meant for the arbiter; without a listener they would end the worker.
  // USR1 (logrotate, passed on by the arbiter): open the log files again.
  process.on('SIGUSR1', () => {
    for (const error of reopenLogFiles()) log.error(`Could not reopen a log file: ${error.message}`);
    worker?.reopenLogs();
  });
  for (const signal of ['SIGHUP', 'SIGUSR2', 'SIGWINCH', 'SIGTTIN', 'SIGTTOU'] as const) {
    process.on(signal, () => {});
  }
  process.on('disconnect', () => {
    log.info(`Parent changed, shutting down: worker (pid: ${process.pid})`);
    void stop(true);
  });
  // Fatal, as in Node's default, but the requests already in flight may still finish, within a
  // short deadline; the arbiter starts the replacement at once, on the worker's word.
  let loading = false;
  const crashed = (what: string, error: unknown): void => {
    // While the app loads (an app's own bootstrap that fails: a NestJS main.js whose database is
    // down), it is an app-load error, as an exception at import is.
    if (loading && phase === 'booting') {
      log.error(`${what} while the app was loading`, error);
      closeWorker();
      exit(ExitCode.APP_LOAD_ERROR);
      return;
    }
    log.error(`${what} in worker; stopping gracefully`, error);
    void stop(true, ExitCode.ERROR, 'crash');
  };
  process.on('uncaughtException', (error) => crashed('Uncaught exception', error));
  process.on('unhandledRejection', (reason) => crashed('Unhandled promise rejection', reason));

  // --max-requests reached while serve() is still under way (a class whose first threads serve
  // before the last one listens): a stop now would be a quick one and drop the requests already
  // taken, so the graceful stop starts as soon as the worker serves.
  let serveStarted = false;
  let recycleWhenServing = false;
  const channel = createChannel(() => {
    if (recycleWhenServing) return;
    log.info('Autorestarting worker after current request.');
    if (phase === 'booting' && serveStarted) recycleWhenServing = true;
    else void stop(true, ExitCode.OK, 'max_requests');
  });
  process.on('message', (message: ConnectionMessage, handle?: unknown) => {
    if (message?.type !== 'kelpie:connection' || !handle) return;
    const listener = boot.listeners[message.listener];
    // A raw handle, as node:cluster hands them to its workers.
    const socket = new Socket({ handle, readable: true, writable: true } as never);
    if (!worker || !listener) {
      socket.destroy();
      return;
    }
    worker.connection(socket, listener, readAheadOf(message.read));
  });

  // The event loop's delay, sampled every 20 ms; each heartbeat reports the largest since the last.
  const RESOLUTION_MS = 20;
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  const timed = settings.metricsBind !== null;
  const rss = residentMemory(log);
  const stats = (): WorkerStats => {
    const requests = worker?.requestStats() ?? requestStats();
    // The histogram holds whole intervals between samples: the delay is what exceeds the resolution.
    const lagMs = delay.count > 0 ? Math.max(0, delay.max / 1e6 - RESOLUTION_MS) : 0;
    const lag = Math.round(lagMs * 1000) / 1e6;
    delay.reset();
    return {
      requests: worker?.requests ?? 0,
      inFlight: Math.max(0, requests.inFlight),
      rss: rss(),
      lag,
      ...(timed ? { statuses: requests.statuses() } : {}),
    };
  };
  const beat = setInterval(
    () => send({ type: 'kelpie:heartbeat', stats: stats() }),
    heartbeatInterval(settings.timeout),
  );
  beat.unref();
  finalReport = () =>
    new Promise<void>((resolve) => {
      if (!process.connected || !process.send) return resolve();
      const timer = setTimeout(resolve, 200);
      process.send({ type: 'kelpie:heartbeat', stats: stats() }, undefined, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });

  try {
    if (boot.workerHooks && boot.configFile) {
      // The file loaded in the arbiter; if it no longer does (edited since), serving matters more
      // than the hooks: failing here would make every replacement worker fail the same way.
      try {
        hooks = (await loadConfigFile(boot.configFile)).hooks;
      } catch (error) {
        log.error(`Could not load the worker hooks from ${boot.configFile}; this worker runs without them`, error);
      }
    }
    const WorkerClassCtor = await importWorkerClass(boot);
    worker = new WorkerClassCtor({
      settings,
      log,
      age: boot.age,
      appModule: boot.appModule,
      cwd: settings.chdir,
      listeners: boot.listeners,
      channel,
      searchFrom: boot.searchFrom,
      hooks,
      configFile: boot.configFile,
    });
  } catch (error) {
    log.error(`Exception in worker process: ${messageOf(error)}`, isKelpieError(error) ? undefined : error);
    exit(isKelpieError(error) ? exitCodeOf(error) : ExitCode.WORKER_BOOT_ERROR);
    return;
  }
  // From here on, the app's listeners for kelpie's signals are kept apart (app/signals.ts).
  appSignals = routeAppSignals();
  loading = true;
  try {
    await worker.load();
  } catch (error) {
    log.error(messageOf(error), isKelpieError(error) ? error.cause : error);
    exit(isKelpieError(error) ? exitCodeOf(error) : ExitCode.APP_LOAD_ERROR);
    return;
  } finally {
    loading = false;
  }
  if (phase !== 'booting') return;
  // Waited for up to KELPIE_CONFIG_TIMEOUT; a throw is logged and the worker serves regardless.
  await runHook(hooks, 'postWorkerInit', log, view());
  if (phase !== 'booting') return;
  serveStarted = true;
  try {
    await worker.serve();
  } catch (error) {
    log.error(`Worker failed to serve: ${messageOf(error)}`, error);
    exit(ExitCode.WORKER_BOOT_ERROR);
    return;
  }
  if (phase !== 'booting') return;
  phase = 'serving';
  send({ type: 'kelpie:ready' });
  if (recycleWhenServing) void stop(true, ExitCode.OK, 'max_requests');
}

/**
 * The worker's resident memory for heartbeats. Node reads it from /proc on Linux, which takes a
 * descriptor: a worker out of them (EMFILE) reports the last value it read, and says so at most
 * once a minute, rather than failing its heartbeat.
 */
function residentMemory(log: Logger): () => number {
  let last = 0;
  const throttle = new LogThrottle(60_000);
  return () => {
    try {
      last = process.memoryUsage.rss();
    } catch (error) {
      if (throttle.take() !== undefined) {
        log.warning(`Could not read this worker's memory use (${messageOf(error)}); reporting the last value read`);
      }
    }
    return last;
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
