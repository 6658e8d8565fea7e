import { type Logger, reopenLogFiles } from '../observability/logger.js';

/**
 * USR1 (logrotate, passed on by the arbiter): the log files this thread writes are opened again,
 * in a worker process's main thread and in each app thread of -k threads alike.
 */

/** Open this thread's log files again; each one that cannot be is logged, and the others are reopened. */
export function reopenLogs(log: Logger): void {
  for (const error of reopenLogFiles()) log.error(`Could not reopen a log file: ${error.message}`);
}
