import type { AppSignals } from '../app/signals.js';
import type { ServerHooks, WorkerProcessView } from '../config/hooks.js';
import { runHookNow } from '../config/hooks.js';
import type { Settings } from '../config/settings.js';
import type { BootMessage } from '../ipc/protocol.js';
import type { Logger } from '../observability/logger.js';
import type { Worker } from './worker.js';

/**
 * One worker process as the runtime's pieces (boot, signals, crashes, heartbeat, graceful stop)
 * share it: where its lifecycle is, the worker class instance, the config file's worker hooks,
 * and kelpie's own exit, the one that runs the workerExit hook.
 */

export type WorkerPhase = 'booting' | 'serving' | 'stopping';

export class WorkerProcess {
  readonly settings: Settings;
  readonly log: Logger;
  readonly age: number;
  worker: Worker | undefined;
  phase: WorkerPhase = 'booting';
  hooks: ServerHooks = {};
  /** The app's listeners for kelpie's signals, kept apart once the app starts loading (app/signals.ts). */
  appSignals: AppSignals | undefined;
  /** Set while the worker class loads the app: an uncaught error then is an app-load error. */
  loading = false;
  /** serve() has been called (--max-requests reached from then on waits for it to resolve). */
  serveStarted = false;
  /** --max-requests was reached while serve() was under way: stop gracefully once it resolves. */
  recycleWhenServing = false;
  /** Sends the last counts to the arbiter before the app's shutdown (heartbeat.ts). */
  finalReport: () => Promise<void> = async () => {};
  // The app's shutdown may replace process.exit's meaning (graceful-stop.ts); kelpie's exit is this one.
  readonly #processExit = process.exit.bind(process);

  constructor(boot: BootMessage, log: Logger) {
    this.settings = boot.settings;
    this.log = log;
    this.age = boot.age;
  }

  /** What worker hooks see: the worker's view, or the process's before the class exists. */
  view(): WorkerProcessView {
    return (
      this.worker?.view() ?? { pid: process.pid, age: this.age, settings: this.settings, log: this.log, requests: 0 }
    );
  }

  readonly exit = (code: number): never => {
    runHookNow(this.hooks, 'workerExit', this.log, this.view());
    this.log.info(`Worker exiting (pid: ${process.pid})`);
    return this.#processExit(code);
  };

  /** close() must be safe at any time (SPEC.md 2.2); a class whose close() throws still exits. */
  closeWorker(): void {
    try {
      this.worker?.close();
    } catch (error) {
      this.log.error('Error in the worker class close()', error);
    }
  }
}

/** An error's message for a log line. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
