import { runHookNow } from '../config/hooks.js';
import { ExitCode } from '../exit-codes.js';
import { signalsFor, type WorkerAction } from '../signals.js';
import { stopWorker } from './graceful-stop.js';
import { reopenLogs } from './log-reopen.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * What a worker process does with each signal, as Gunicorn's workers do (SPEC.md 2.6): TERM
 * stops gracefully, INT and QUIT quickly, ABRT at once, USR1 reopens the log files. The arbiter
 * going away (disconnect) stops the worker gracefully, as TERM does. Every other signal kelpie
 * uses is the arbiter's, and ignored here. Which signal does what is the worker column of the
 * signals table (../signals.ts). A worker class never handles these itself (SPEC.md 2.2).
 */

export function handleWorkerSignals(proc: WorkerProcess): void {
  const { log } = proc;
  const quick = () => {
    runHookNow(proc.hooks, 'workerInt', log, proc.view());
    void stopWorker(proc, false);
  };
  // One handler per action of the table's worker column (signals.ts); `ignore` keeps a signal
  // meant for the arbiter from ending the worker.
  const actions: Record<WorkerAction, () => void> = {
    'stop-graceful': () => void stopWorker(proc, true),
    'stop-quick': quick,
    abort: () => {
      log.info(`Worker aborted (pid: ${process.pid})`);
      runHookNow(proc.hooks, 'workerAbort', log, proc.view());
      proc.exit(ExitCode.ERROR);
    },
    // USR1 (logrotate, passed on by the arbiter): open the log files again.
    'reopen-logs': () => {
      reopenLogs(log);
      proc.worker?.reopenLogs();
    },
    ignore: () => {},
  };
  for (const [signal, action] of signalsFor('worker')) process.on(signal, actions[action]);
  process.on('disconnect', () => {
    log.info(`Parent changed, shutting down: worker (pid: ${process.pid})`);
    void stopWorker(proc, true);
  });
}
