import { ExitCode } from '../exit-codes.js';
import { stopWorker } from './graceful-stop.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * Uncaught exceptions and unhandled rejections in a worker process (SPEC.md 2.6): fatal, as in
 * Node's default, but the requests already in flight may still finish, within a short deadline;
 * the arbiter starts the replacement at once, on the worker's word (kelpie:retiring).
 */

export function handleCrashes(proc: WorkerProcess): void {
  const crashed = (what: string, error: unknown): void => {
    // While the app loads (an app's own bootstrap that fails: a NestJS main.js whose database is
    // down), it is an app-load error, as an exception at import is.
    if (proc.loading && proc.phase === 'booting') {
      proc.log.error(`${what} while the app was loading`, error);
      proc.closeWorker();
      proc.exit(ExitCode.APP_LOAD_ERROR);
      return;
    }
    proc.log.error(`${what} in worker; stopping gracefully`, error);
    void stopWorker(proc, true, ExitCode.ERROR, 'crash');
  };
  process.on('uncaughtException', (error) => crashed('Uncaught exception', error));
  process.on('unhandledRejection', (reason) => crashed('Unhandled promise rejection', reason));
}
