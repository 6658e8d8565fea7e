import type { App } from './app.js';
import { loadApp } from './app-loader.js';
import { KelpieError } from './errors.js';
import type { Logger } from './logger.js';
import type { InheritedListener } from './messages.js';
import type { Settings } from './settings.js';

/**
 * The worker contract (SPEC.md, "Worker contract"). A worker class extends `Worker`, declares
 * `static meta`, and implements `serve()` and `drain()`. Core drives the lifecycle in the worker
 * process: construct → load() → serve() → heartbeat … → drain() and unload() on TERM, or close()
 * on QUIT/INT, then exit.
 */

export interface WorkerMeta {
  /** The short name users pass to `-k` (`async`). */
  name: string;
  /** The worker package's version. */
  version: string;
  /** The semver range of @kelpie/core this class works with (`^0.1.0`). */
  core: string;
  /** One line for logs and docs. */
  description?: string;
}

export interface WorkerContext {
  settings: Settings;
  log: Logger;
  /** Spawn counter; lower is older. */
  age: number;
  /** The APP_MODULE text, for worker classes that load the app themselves (threads). */
  appModule: string;
  /** Folder APP_MODULE is resolved from. */
  cwd: string;
  /** Listening sockets inherited from the arbiter. */
  listeners: readonly InheritedListener[];
}

/** Marks worker classes across copies of core (an ESM and a CJS build are distinct classes). */
export const WORKER_BRAND: unique symbol = Symbol.for('kelpie.worker-class') as never;

export abstract class Worker {
  static readonly [WORKER_BRAND] = true;
  /** Each worker class must declare its own. */
  static meta: WorkerMeta;

  readonly settings: Settings;
  readonly log: Logger;
  readonly age: number;
  readonly appModule: string;
  readonly cwd: string;
  readonly listeners: readonly InheritedListener[];
  /** Requests this worker has started handling (for --max-requests and status). */
  requests = 0;
  #app: App | undefined;

  constructor(context: WorkerContext) {
    this.settings = context.settings;
    this.log = context.log;
    this.age = context.age;
    this.appModule = context.appModule;
    this.cwd = context.cwd;
    this.listeners = context.listeners;
  }

  /** The loaded app; available once load() has run. */
  get app(): App {
    if (!this.#app) throw new Error('the app is not loaded yet: call load() before serve()');
    return this.#app;
  }

  /**
   * Load APP_MODULE in this process and run the app's startup hook. Worker classes that run the
   * app somewhere else (in threads) override this. Any error is an app-load error (exit 4).
   */
  async load(): Promise<void> {
    const app = await loadApp(this.appModule, this.cwd, {
      onFetchError: (error, req) => this.log.error(`Error handling request ${req.method} ${req.url}`, error),
    });
    if (app.startup) {
      try {
        await app.startup();
      } catch (error) {
        throw new KelpieError('KELPIE_ERR_APP_HOOK', `The app's startup hook threw: ${String(error)}`, {
          cause: error,
        });
      }
    }
    this.#app = app;
  }

  /** Start accepting on every inherited listener; resolve once the worker serves. */
  abstract serve(): Promise<void>;

  /**
   * Graceful stop: stop accepting, let in-flight requests finish, close idle connections;
   * resolve when nothing is left. Core enforces --graceful-timeout around it.
   */
  abstract drain(): Promise<void>;

  /** After drain(): run the app's shutdown hook. */
  async unload(): Promise<void> {
    await this.#app?.shutdown?.();
  }

  /** Quick stop: drop every connection now. The process exits right after. */
  close(): void {}
}

/** The class side of the contract, as the arbiter and worker process see it. */
export interface WorkerClass {
  readonly meta: WorkerMeta;
  /** Arbiter side, before any worker starts: refuse settings this class cannot honour. */
  checkConfig?(settings: Settings, log: Logger): void;
  new (context: WorkerContext): Worker;
}

/** Whether a value looks like a worker class (brand, or a prototype with serve and drain). */
export function isWorkerClass(value: unknown): value is WorkerClass {
  if (typeof value !== 'function') return false;
  const proto = (value as { prototype?: Record<string, unknown> }).prototype;
  const branded = (value as unknown as Record<symbol, unknown>)[WORKER_BRAND] === true;
  return branded || (typeof proto?.serve === 'function' && typeof proto?.drain === 'function');
}
