import { runHookNow, type ServerHooks, type ServerView } from '../config/hooks.js';
import type { Settings } from '../config/settings.js';
import type { TlsMaterial } from '../http/tls.js';
import type { Logger } from '../observability/logger.js';
import type { ResolvedWorker } from '../plugins/resolve-worker.js';
import type { Listener } from './listeners.js';
import type { WorkerRecord } from './worker-record.js';

/**
 * What the parts of the arbiter share: the configuration in effect (HUP replaces it), the
 * listening sockets, the workers alive, the target number of workers and the lifecycle phase.
 * The Arbiter (arbiter.ts) moves the phase; the pool, the dispatch, HUP, the upgrade and the
 * views read and change the rest.
 */

/** What the arbiter is started with (`new Arbiter(options)`). */
export interface ArbiterOptions {
  settings: Settings;
  appModule: string;
  worker: ResolvedWorker;
  log: Logger;
  /** The worker entry script; defaults to core's own. */
  workerMain?: string;
  /** Folders workers look plugins (adapters) up from; defaults to --chdir. */
  searchFrom?: string[];
  /** Server hooks from the config file. */
  hooks?: ServerHooks;
  /** The config file in effect (workers load it when it has worker hooks). */
  configFile?: string;
  /**
   * HUP: read the configuration again (config file included). Rejecting keeps the current
   * configuration and workers. Without it, HUP only replaces the workers.
   */
  reconfigure?: () => Promise<Reconfiguration>;
  /** Called once the listeners are bound (a daemonizing parent waits for it). */
  onListening?: () => void;
  /** USR2: the command that starts a new arbiter (defaults to this process's own). */
  reexec?: { execPath: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv };
  /** TLS files already read (and checked); read from the settings at start otherwise. */
  tls?: TlsMaterial;
}

/** What a HUP re-read gives the arbiter. */
export interface Reconfiguration {
  settings: Settings;
  hooks: ServerHooks;
  configFile?: string;
  /** The TLS files read again (a renewed certificate). */
  tls?: TlsMaterial;
}

/** The arbiter's lifecycle: signals and control commands act only while `running`. */
export type Phase = 'starting' | 'running' | 'stopping' | 'stopped';

export class ArbiterContext {
  settings: Settings;
  hooks: ServerHooks;
  /** The config file in effect (workers load it when it has worker hooks). */
  configFile: string | undefined;
  /** TLS certificate, key and CA contents for the workers (undefined: plain HTTP). */
  tls: TlsMaterial | undefined;
  listeners: Listener[] = [];
  /** The target number of workers (--workers, TTIN/TTOU, WINCH's zero). */
  numWorkers: number;
  phase: Phase = 'starting';
  /** The worker processes alive, by pid, in spawn order. */
  readonly workers = new Map<number, WorkerRecord>();
  readonly log: Logger;
  readonly options: ArbiterOptions;
  readonly startedAt = Date.now();

  constructor(options: ArbiterOptions) {
    this.options = options;
    this.settings = options.settings;
    this.hooks = options.hooks ?? {};
    this.configFile = options.configFile;
    this.log = options.log;
    this.numWorkers = options.settings.workers;
  }

  get running(): boolean {
    return this.phase === 'running';
  }

  /** A listener's URL as clients use it: https when TLS is on. */
  urlOf(listener: Listener): string {
    return this.tls ? listener.url.replace(/^http:/, 'https:') : listener.url;
  }

  /** What server hooks see of the arbiter. */
  view(): ServerView {
    return {
      pid: process.pid,
      settings: this.settings,
      appModule: this.options.appModule,
      log: this.log,
      numWorkers: this.numWorkers,
      workers: [...this.workers.values()].map((w) => ({ pid: w.pid, age: w.age })),
    };
  }

  /** A new target number of workers: logged, and told to the nworkersChanged hook. */
  changeWorkerCount(next: number): void {
    this.log.info(`Number of workers changed from ${this.numWorkers} to ${next}`);
    const old = this.numWorkers;
    this.numWorkers = next;
    runHookNow(this.hooks, 'nworkersChanged', this.log, this.view(), next, old);
  }
}
