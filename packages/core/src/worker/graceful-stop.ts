import { pendingWork } from '../app/loader.js';
import { ExitCode } from '../exit-codes.js';
import { accessLogsWritten } from '../http/serving-features.js';
import { crashDrainSeconds } from '../ipc/protocol.js';
import type { Logger } from '../observability/logger.js';
import { send } from './channel.js';
import type { Worker } from './worker.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * How a worker stops (SPEC.md 2.6): quickly (close every connection, exit), or gracefully: drain,
 * the last heartbeat, the app's shutdown hook, the app's own SIGTERM listeners, then the upgraded
 * connections, all within --graceful-timeout. The order of those steps (`drainThenShutdown`) is
 * also that of each app thread of -k threads.
 */

/** When a worker says that the app's own shutdown is still running. */
const APP_SHUTDOWN_NOTICE_MS = 5000;

/** Why a serving worker stops on its own (kelpie:retiring). */
export type RetireReason = 'crash' | 'max_requests';

/** Where a graceful stop is: the app's own shutdown is told apart when the deadline comes. */
export type StopStep = 'drain' | 'app' | 'upgraded';

/** The steps of a graceful stop, in the order `drainThenShutdown` runs them. */
export interface StopSteps {
  /** Stop accepting and finish the requests in flight; upgraded connections may stay open. */
  drain(): unknown;
  /** A worker process: its last counts to the arbiter. */
  report?(): Promise<unknown>;
  /** The app's shutdown hook. */
  unload(): unknown;
  /** A worker process: the app's own SIGTERM listeners (signals never reach a thread). */
  appShutdown?(): Promise<unknown>;
  /** Wait for the upgraded connections (WebSockets), which the app's shutdown may be what closes. */
  drainUpgraded(): unknown;
}

/**
 * Drain, then shut the app down, then wait for upgraded connections, and last for the access
 * log's lines to be written (a thread of -k threads is stopped without its `exit` event once the
 * process exits: see access-log-writer.ts). An error in a step is logged as `failure` and ends
 * the sequence. `onStep` hears when the app's part and the last step begin.
 */
export async function drainThenShutdown(
  steps: StopSteps,
  log: Logger,
  failure: string,
  onStep?: (step: StopStep) => void,
): Promise<void> {
  try {
    // Requests only: upgraded connections (WebSockets) may be what the app's shutdown closes.
    await steps.drain();
    onStep?.('app');
    // The last counts, so the arbiter's totals (/metrics) include the requests just finished;
    // sent before the app's own shutdown, which may end the process.
    if (steps.report) await steps.report();
    await steps.unload();
    if (steps.appShutdown) await steps.appShutdown();
    onStep?.('upgraded');
    await steps.drainUpgraded();
  } catch (error) {
    log.error(failure, error);
  }
  await accessLogsWritten();
}

/**
 * Stop the worker process. `retiring`: the worker stops on its own, and a serving one tells the
 * arbiter (kelpie:retiring) so that its replacement starts now; after a crash it drains for
 * crashDrainSeconds() only. A quick stop during a graceful one ends it at once.
 */
export async function stopWorker(
  proc: WorkerProcess,
  graceful: boolean,
  code: number = ExitCode.OK,
  retiring?: RetireReason,
): Promise<void> {
  if (proc.phase === 'stopping') {
    if (!graceful) {
      proc.closeWorker();
      proc.exit(code);
    }
    return;
  }
  const wasServing = proc.phase === 'serving';
  proc.phase = 'stopping';
  const { worker } = proc;
  if (!graceful || !wasServing || !worker) {
    proc.closeWorker();
    proc.exit(code);
    return;
  }
  if (retiring) send({ type: 'kelpie:retiring', reason: retiring });
  await drainWithinDeadline(proc, worker, code, retiring === 'crash');
}

/** The graceful stop of a serving worker, bounded by --graceful-timeout (or the crash drain). */
async function drainWithinDeadline(proc: WorkerProcess, worker: Worker, code: number, crash: boolean): Promise<void> {
  const { settings, log } = proc;
  const seconds = crash ? crashDrainSeconds(settings.gracefulTimeout) : settings.gracefulTimeout;
  let step: StopStep = 'drain';
  const deadline = setTimeout(() => {
    const what = crash ? 'Drain deadline after an uncaught exception' : 'Graceful timeout';
    log.warning(
      step === 'app'
        ? `${what} (${seconds}s) reached during the app's own shutdown; exiting`
        : `${what} (${seconds}s) reached; closing remaining connections`,
    );
    proc.closeWorker();
    proc.exit(code);
  }, seconds * 1000);
  const steps: StopSteps = {
    drain: () => worker.drain(),
    report: () => proc.finalReport(),
    unload: () => worker.unload(),
    appShutdown: () => appShutdown(proc, code, deadline),
    drainUpgraded: () => worker.drainUpgraded(),
  };
  await drainThenShutdown(steps, log, 'Error during graceful stop', (next) => {
    step = next;
  });
  clearTimeout(deadline);
  proc.exit(code);
}

/**
 * After the drain: the app's own SIGTERM (or SIGINT) listeners run once, and the stop goes on
 * when the app calls process.exit() (a normal exit, whatever its code) or its event loop has
 * nothing left to do; kelpie's own handles do not count, and the graceful deadline still holds.
 */
function appShutdown(proc: WorkerProcess, code: number, deadline: NodeJS.Timeout): Promise<void> {
  const { log, appSignals } = proc;
  return new Promise((resolve) => {
    if (!appSignals) return resolve();
    process.exit = ((appCode?: number | string | null) => {
      log.debug(`The app's shutdown called process.exit(${appCode ?? ''})`);
      proc.exit(code);
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
}

/**
 * --max-requests reached (channel.maxRequestsReached): a graceful stop. Reached while serve() is
 * still under way (a class whose first threads serve before the last one listens), a stop now
 * would be a quick one and drop the requests already taken, so the graceful stop starts as soon
 * as the worker serves.
 */
export function maxRequestsReached(proc: WorkerProcess): void {
  if (proc.recycleWhenServing) return;
  proc.log.info('Autorestarting worker after current request.');
  if (proc.phase === 'booting' && proc.serveStarted) proc.recycleWhenServing = true;
  else void stopWorker(proc, true, ExitCode.OK, 'max_requests');
}
