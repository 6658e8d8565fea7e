import { runHookNow } from '../config/hooks.js';
import { ExitCode } from '../exit-codes.js';
import { stopWorker } from './graceful-stop.js';
import { reopenLogs } from './log-reopen.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * What a worker process does with each signal, as Gunicorn's workers do (SPEC.md 2.6): TERM
 * stops gracefully, INT and QUIT quickly, ABRT at once, USR1 reopens the log files. The arbiter
 * going away (disconnect) stops the worker gracefully, as TERM does. Every other signal kelpie
 * uses is the arbiter's, and ignored here. A worker class never handles these itself (SPEC.md 2.2).
 */

/** The arbiter's signals: without a listener they would end the worker. */
const ARBITER_SIGNALS = ['SIGHUP', 'SIGUSR2', 'SIGWINCH', 'SIGTTIN', 'SIGTTOU'] as const;

export function handleWorkerSignals(proc: WorkerProcess): void {
  const { log } = proc;
  const quick = () => {
    runHookNow(proc.hooks, 'workerInt', log, proc.view());
    void stopWorker(proc, false);
  };
  process.on('SIGTERM', () => void stopWorker(proc, true));
  process.on('SIGINT', quick);
  process.on('SIGQUIT', quick);
  process.on('SIGABRT', () => {
    log.info(`Worker aborted (pid: ${process.pid})`);
    runHookNow(proc.hooks, 'workerAbort', log, proc.view());
    proc.exit(ExitCode.ERROR);
  });
  // USR1 (logrotate, passed on by the arbiter): open the log files again.
  process.on('SIGUSR1', () => {
    reopenLogs(log);
    proc.worker?.reopenLogs();
  });
  for (const signal of ARBITER_SIGNALS) process.on(signal, () => {});
  process.on('disconnect', () => {
    log.info(`Parent changed, shutting down: worker (pid: ${process.pid})`);
    void stopWorker(proc, true);
  });
}
