import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveAppFile } from '../app/loader.js';
import { hasWorkerHooks, runHook, runHookNow, type ServerHooks, type ServerView } from '../config/hooks.js';
import { MAX_WORKERS, RESTART_ONLY_SETTINGS, type Settings } from '../config/settings.js';
import { ExitCode } from '../exit-codes.js';
import { loadTlsMaterial, type TlsMaterial } from '../http/tls.js';
import { type BootMessage, crashDrainSeconds, FIRST_LISTENER_FD, type InheritedListener } from '../ipc/protocol.js';
import { BadMessageLog, MAX_ACCEPT_COUNT, onWorkerMessages } from '../ipc/validate.js';
import { type Logger, LogThrottle, reopenLogFiles } from '../observability/logger.js';
import { type MetricsServer, type MetricsSnapshot, openMetricsServer } from '../observability/metrics.js';
import {
  addStatusDelta,
  addStatuses,
  type StatusStats,
  statusTotals,
  type WorkerStats,
} from '../observability/stats.js';
import { statsdClient } from '../observability/statsd.js';
import type { ResolvedWorker } from '../plugins/resolve-worker.js';
import { VERSION } from '../version.js';
import { workerEnvironment } from '../worker/env.js';
import { type Identity, resolveIdentity } from './accounts.js';
import { type ControlServer, type ControlTarget, openControlSocket, type ServerStatus } from './control.js';
import { checkOpenFilesLimit } from './descriptors.js';
import { bindListeners, type ClientHandle, inheritListeners, type Listener } from './listeners.js';
import { removePidfile, renamePidfile, writePidfile } from './pidfile.js';
import { watchForChanges } from './reloader.js';
import { checkSticky, freeSlot, StickyDispatch } from './sticky.js';

/**
 * The arbiter: binds the listeners, keeps `workers` worker processes alive, and turns signals
 * into lifecycle actions, as Gunicorn's arbiter does. It accepts connections only for worker
 * classes that ask it to (`accept = 'arbiter'`) and under --sticky.
 *
 * Everything is event-driven: signals and child exits arrive as events, one timer checks
 * heartbeats. See SPEC.md for the signal table and the messages.
 */

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

interface WorkerRecord {
  pid: number;
  age: number;
  child: ChildProcess;
  lastBeat: number;
  ready: boolean;
  /** Replaced by a reload: retired once a new worker is ready. */
  outdated: boolean;
  /** The reload (HUP) count when it was spawned. */
  generation: number;
  /** Sent TERM to leave (surplus, outdated, stopping). */
  retiring: boolean;
  /** SIGABRT sent after a missed heartbeat, then SIGKILL. */
  abortedAt: number | null;
  killedAfterTimeout: boolean;
  /** SIGKILL sent because a stop outlived --graceful-timeout. */
  killedAfterGraceful: boolean;
  /** Arbiter dispatch: connections the worker asked for and has not been sent yet. */
  credits: number;
  /** Resident memory in bytes, from the last heartbeat. */
  rss: number;
  /** When the worker was first seen above --max-worker-memory, in this stretch. */
  overMemorySince: number | null;
  /** Spawn time, ms since the epoch. */
  startedAt: number;
  /** Requests, memory and lag from the last heartbeat. */
  stats: WorkerStats | null;
  /** Why it was sent TERM or is leaving on its own (a restart reason for /metrics, or a scale-down that is none). */
  retireReason: RetireReason | null;
  /** Crash-loop backoff: the quick exits in a row of the workers this one replaces (its slot). */
  quickExits: number;
  /** After an uncaught exception: SIGKILL if it outlives its drain deadline. */
  drainTimer: NodeJS.Timeout | undefined;
  killedAfterDrain: boolean;
  /** --sticky: its place in the pool (sticky.ts); a replacement takes the slot its predecessor left. */
  slot: number;
}

/**
 * Why a worker leaves while the server runs: sent away by the arbiter, or on its own word
 * (`kelpie:retiring`: crash, max_requests). All but `scale` start a replacement.
 */
type RetireReason = 'reload' | 'memory' | 'killed' | 'scale' | 'crash' | 'max_requests';

/** A restart the crash-loop backoff holds back, with its slot's count of quick exits. */
interface DelayedRestart {
  quickExits: number;
  timer: NodeJS.Timeout;
}

/** Workers spawned per turn of the event loop: signals are handled between batches. */
const SPAWN_BATCH = 4;

/** A connection the arbiter accepted and has not handed to a worker yet. */
interface QueuedConnection {
  client: ClientHandle;
  listener: number;
}

const SIGNALS = [
  'SIGHUP',
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGTTIN',
  'SIGTTOU',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
] as const;
type HandledSignal = (typeof SIGNALS)[number];

const defaultWorkerMain = (): string => fileURLToPath(new URL('./worker-main.js', import.meta.url));

export class Arbiter {
  #settings: Settings;
  #hooks: ServerHooks;
  #configFile: string | undefined;
  readonly #log: Logger;
  readonly #options: ArbiterOptions;
  /** TLS certificate, key and CA contents for the workers (undefined: plain HTTP). */
  #tls: TlsMaterial | undefined;
  readonly #workers = new Map<number, WorkerRecord>();
  #listeners: Listener[] = [];
  #numWorkers: number;
  #age = 0;
  #state: 'starting' | 'running' | 'stopping' | 'stopped' = 'starting';
  #exitCode: number = ExitCode.OK;
  /** Why the arbiter halted on its own (a worker that could not boot), for the last log line. */
  #haltReason: string | null = null;
  /** A stop signal that arrived while the listeners were still being bound. */
  #stopWhileStarting: boolean | null = null;
  #announcedReady = false;
  #checkTimer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  #handlers = new Map<HandledSignal, () => void>();
  /** Arbiter dispatch (`accept = 'arbiter'`): accepted connections waiting for a worker, oldest first. */
  readonly #queue: QueuedConnection[] = [];
  /** Workers with credits, the longest waiting first. */
  #idle: WorkerRecord[] = [];
  /** Connections closed because --backlog was full: reported at most once a second. */
  readonly #backlogDrops = new LogThrottle(1000);
  /** Messages from workers are untrusted: the bad ones are dropped and reported here. */
  readonly #badMessages: BadMessageLog;
  #done!: (code: number) => void;
  #identity: Identity | undefined;
  /** The pidfile this arbiter wrote (FILE, or FILE.2 while it is a USR2 child not yet promoted). */
  #pidfile: string | undefined;
  /** A USR2 child: the pid of the arbiter that started it, until that one exits. */
  #upgradeParent: number | undefined;
  /** The new arbiter this one started on USR2, while it runs. */
  #upgradeChild: ChildProcess | undefined;
  /** Reloads so far: each starts a generation of workers. */
  #generation = 0;
  /** A reload whose workers could not load the app: its other workers failing too is no news. */
  #abandonedGeneration = -1;
  /** USR2 is running the preExec hook: a second USR2 waits for nothing and is ignored. */
  #reexecPending = false;
  #promotionTimer: NodeJS.Timeout | undefined;
  #memoryTimer: NodeJS.Timeout | undefined;
  #stopWatching: (() => void) | undefined;
  readonly #finished: Promise<number>;
  readonly #startedAt = Date.now();
  /** Responses counted by workers that have exited (the /metrics counters keep them). */
  readonly #retiredStatuses: Record<string, StatusStats> = statusTotals();
  /** Workers replaced, by reason. */
  readonly #restarts: Record<string, number> = {};
  #control: ControlServer | undefined;
  #metrics: MetricsServer | undefined;
  #metricsRetry: NodeJS.Timeout | undefined;
  #statsdTimer: NodeJS.Timeout | undefined;
  /** Crash-loop backoff: restarts waiting for their delay. */
  readonly #delayedRestarts = new Set<DelayedRestart>();
  /** Slot counts of restarts whose delay is over, for the workers #manageWorkers spawns next. */
  readonly #dueQuickExits: number[] = [];
  /** Restarts the backoff has delayed (for /metrics). */
  #restartDelays = 0;
  /** More workers to spawn on the next turn of the event loop. */
  #spawnTurn: NodeJS.Immediate | undefined;
  /** --sticky: connections from accept to their client's worker (sticky.ts). */
  readonly #stickyDispatch: StickyDispatch<WorkerRecord>;

  constructor(options: ArbiterOptions) {
    this.#options = options;
    this.#settings = options.settings;
    this.#hooks = options.hooks ?? {};
    this.#configFile = options.configFile;
    this.#log = options.log;
    this.#badMessages = new BadMessageLog(options.log);
    this.#stickyDispatch = new StickyDispatch<WorkerRecord>({
      log: this.#log,
      workers: () => this.#workers.values(),
      settings: () => this.#settings,
      listener: (index) => {
        const listener = this.#listeners[index];
        return listener && { url: listener.url, tcp: listener.address.kind === 'tcp' };
      },
      running: () => this.#state === 'running',
    });
    this.#numWorkers = options.settings.workers;
    this.#finished = new Promise((resolve) => {
      this.#done = resolve;
    });
  }

  /** Start, then resolve with the exit status once the arbiter has stopped. */
  async run(): Promise<number> {
    const log = this.#log;
    process.title = `kelpie: master [${this.#settings.procName ?? this.#options.appModule}]`;
    log.info(`Starting kelpie ${VERSION}`);
    // Handlers go in first: a TERM during the bind retries must not kill the arbiter by default action.
    for (const signal of SIGNALS) {
      const handler = () => this.#onSignal(signal);
      this.#handlers.set(signal, handler);
      process.on(signal, handler);
    }
    await runHook(this.#hooks, 'onStarting', log, this.view());
    try {
      checkSticky(this.#settings, this.#options.worker.workerClass);
      this.#identity = resolveIdentity(this.#settings.user, this.#settings.group);
      const parent = Number(process.env.KELPIE_PID);
      if (parent > 0 && parent === process.ppid) this.#upgradeParent = parent;
      if (this.#settings.pidfile) {
        this.#pidfile = this.#upgradeParent ? `${this.#settings.pidfile}.2` : this.#settings.pidfile;
        writePidfile(this.#pidfile);
      }
      this.#tls = this.#options.tls ?? loadTlsMaterial(this.#settings);
      this.#listeners = await this.#openListeners();
    } catch (error) {
      this.#removeSignalHandlers();
      if (this.#pidfile) removePidfile(this.#pidfile);
      throw error;
    }
    for (const listener of this.#listeners) log.info(`Listening at: ${this.#urlOf(listener)} (${process.pid})`);
    this.#options.onListening?.();
    log.info(`Using worker: ${this.#options.worker.meta.name}`);
    if (process.env.NODE_ENV === undefined) {
      log.info('NODE_ENV is not set: workers run with NODE_ENV=production (-e NODE_ENV=... sets another)');
    }
    checkOpenFilesLimit(
      { ...this.#settings, workerClass: this.#options.worker.meta.name, arbiterAccepts: this.#accepting },
      log,
    );
    if (this.#accepting) {
      this.#listeners.forEach((listener, index) => {
        listener.accept(
          (client) => this.#onConnection(client, index),
          (code) => log.warning(`Error accepting a connection on ${listener.url}: ${code}`),
        );
      });
      log.debug(
        this.#sticky
          ? '--sticky: the arbiter accepts connections and sends each client to the same worker'
          : 'The arbiter accepts connections and hands them to idle workers',
      );
    }
    this.#state = 'running';
    if (this.#stopWhileStarting !== null) {
      this.stop(this.#stopWhileStarting);
      return this.#finished;
    }
    this.#manageWorkers();
    this.#startChecks();
    if (this.#upgradeParent) {
      log.info(`Started by USR2 from the arbiter with pid ${this.#upgradeParent}; promoted once it exits`);
      this.#promotionTimer = setInterval(() => this.#maybePromote(), 500);
    }
    this.#startMemoryChecks();
    if (this.#settings.reload) this.#watch();
    await this.#startMonitoring();
    return this.#finished;
  }

  /** The control socket, --metrics-bind and the StatsD workers gauge: what operators watch and steer with. */
  async #startMonitoring(): Promise<void> {
    const settings = this.#settings;
    if (!settings.controlSocketDisable) await this.#openControl(this.#upgradeParent);
    if (settings.metricsBind) this.#openMetrics(settings.metricsBind);
    const statsd = statsdClient(settings, this.#log);
    if (statsd) {
      this.#statsdTimer = setInterval(() => statsd.gauge('kelpie.workers', this.#workers.size), 1000);
      this.#statsdTimer.unref();
    }
  }

  /** Listen on --control-socket, taking it over from `takeOverFrom` (a pid) if that arbiter has it. */
  async #openControl(takeOverFrom: number | undefined): Promise<void> {
    const path = resolve(this.#settings.chdir, this.#settings.controlSocket);
    this.#control?.close();
    this.#control = await openControlSocket(path, this.#controlTarget(), this.#log, { takeOverFrom });
    if (this.#state !== 'running') this.#control?.close();
  }

  #openMetrics(bind: string): void {
    openMetricsServer(bind, this, this.#log).then(
      (server) => {
        if (this.#state === 'stopped') return server.close();
        this.#metrics = server;
        this.#log.info(`Metrics at: ${server.url}/metrics (${process.pid})`);
      },
      (error: NodeJS.ErrnoException) => {
        if (this.#state === 'stopped') return;
        // A USR2 successor waits for the old arbiter to let go of the port.
        if (error.code === 'EADDRINUSE' && this.#upgradeParent) {
          this.#metricsRetry = setTimeout(() => this.#openMetrics(bind), 1000);
          return;
        }
        this.#log.error(`Cannot serve metrics at ${bind}: ${error.message}`);
      },
    );
  }

  /** What `kelpie ctl` can do. */
  #controlTarget(): ControlTarget {
    const running = () => {
      if (this.#state !== 'running') throw new Error(`the server is ${this.#state}`);
    };
    return {
      status: () => this.status(),
      reload: () => {
        running();
        this.reload();
      },
      reopenLogs: () => this.reopenLogs(),
      stop: (graceful) => {
        this.#log.info(`Shutdown requested on the control socket (${graceful ? 'graceful' : 'quick'})`);
        this.stop(graceful);
      },
      addWorkers: (count) => {
        running();
        this.setWorkerCount(this.#numWorkers + count);
        return this.#numWorkers;
      },
      removeWorkers: (count) => {
        running();
        if (this.#numWorkers - count < 1) {
          throw new Error(`cannot remove ${count} of ${this.#numWorkers} worker(s): at least 1 must stay`);
        }
        this.setWorkerCount(this.#numWorkers - count);
        return this.#numWorkers;
      },
      killWorker: (pid) => {
        running();
        const worker = this.#workers.get(pid);
        if (!worker) {
          throw new Error(`no worker with pid ${pid}; workers: ${[...this.#workers.keys()].join(', ') || 'none'}`);
        }
        if (worker.retiring) throw new Error(`worker ${pid} is already stopping`);
        this.#log.info(`Replacing worker (pid: ${pid}) as asked on the control socket`);
        this.#retire(worker, 'killed');
        this.#manageWorkers();
      },
    };
  }

  /** USR1: open the log files again here and in every worker; the errors, as text. */
  reopenLogs(): string[] {
    const errors = reopenLogFiles().map((error) => error.message);
    for (const message of errors) this.#log.error(`Could not reopen a log file: ${message}`);
    for (const worker of this.#workers.values()) worker.child.kill('SIGUSR1');
    return errors;
  }

  /** The server and each worker, for `kelpie ctl status` and `top`. */
  status(): ServerStatus {
    const now = Date.now();
    return {
      pid: process.pid,
      version: VERSION,
      appModule: this.#options.appModule,
      workerClass: this.#options.worker.meta.name,
      state: this.#state,
      startedAt: this.#startedAt,
      numWorkers: this.#numWorkers,
      listeners: this.#listeners.map((listener) => this.#urlOf(listener)),
      workers: [...this.#workers.values()]
        .sort((a, b) => a.age - b.age)
        .map((w) => ({
          pid: w.pid,
          age: w.age,
          state: w.retiring ? 'retiring' : w.ready ? 'ready' : 'booting',
          startedAt: w.startedAt,
          requests: w.stats?.requests ?? 0,
          inFlight: w.stats?.inFlight ?? 0,
          rss: w.stats?.rss ?? 0,
          lag: w.stats?.lag ?? 0,
          lastHeartbeat: (now - w.lastBeat) / 1000,
        })),
    };
  }

  /** For /metrics. */
  metricsSnapshot(): MetricsSnapshot {
    return {
      workers: [...this.#workers.values()].map((w) => ({ pid: w.pid, stats: w.stats })),
      retired: this.#retiredStatuses,
      restarts: { ...this.#restarts },
      restartDelays: this.#restartDelays,
      numWorkers: this.#numWorkers,
    };
  }

  /** /healthz: every worker booted (once), some worker serving now, and not shutting down. */
  healthy(): boolean {
    if (this.#state !== 'running' || !this.#announcedReady) return false;
    for (const worker of this.#workers.values()) if (worker.ready && !worker.retiring) return true;
    return false;
  }

  /** --max-worker-memory: workers report their RSS with each heartbeat; look once a second. */
  #startMemoryChecks(): void {
    if (this.#settings.maxWorkerMemory > 0) this.#memoryTimer = setInterval(() => this.#checkMemory(), 1000);
  }

  /** --reload: a change in the app's directory, an extra file or the config file reloads as HUP does. */
  #watch(): void {
    const { chdir, reloadExtraFile } = this.#settings;
    let appDir = chdir;
    try {
      appDir = dirname(resolveAppFile(this.#options.appModule, chdir));
    } catch {
      // The workers will say why the app cannot be found; watch the project folder meanwhile.
    }
    const files = [...reloadExtraFile.map((f) => resolve(chdir, f)), ...(this.#configFile ? [this.#configFile] : [])];
    this.#stopWatching = watchForChanges(
      [appDir],
      files,
      (file) => {
        this.#log.info(`Worker reloading: ${file} modified`);
        this.reload();
      },
      this.#log,
    );
  }

  /** The listening sockets: from a USR2 parent (KELPIE_FD), from systemd (LISTEN_FDS), or bound here. */
  async #openListeners(): Promise<Listener[]> {
    const env = process.env;
    const options = { backlog: this.#settings.backlog, log: this.#log, reusePort: this.#settings.reusePort };
    const fdList = (text: string) => text.split(',').map((fd) => Number(fd.trim()));
    if (env.KELPIE_FD) {
      const fds = fdList(env.KELPIE_FD);
      delete env.KELPIE_FD;
      return inheritListeners(fds, this.#settings.bind, options, 'the previous arbiter (KELPIE_FD)');
    }
    // LISTEN_PID=1 under KELPIE_UNDER_INIT: activated for a PID 1 kelpie that runs this one under tini.
    const forThisProcess =
      Number(env.LISTEN_PID) === process.pid || (env.LISTEN_PID === '1' && env.KELPIE_UNDER_INIT === '1');
    if (env.LISTEN_FDS && forThisProcess) {
      const count = Number(env.LISTEN_FDS);
      delete env.LISTEN_FDS;
      delete env.LISTEN_PID;
      delete env.LISTEN_FDNAMES;
      const fds = Array.from({ length: count }, (_, i) => 3 + i);
      this.#log.info(`Using ${count} socket(s) from systemd (LISTEN_FDS); --bind is not used`);
      return inheritListeners(fds, [], options, 'systemd (LISTEN_FDS)');
    }
    return bindListeners(this.#settings.bind, options);
  }

  /** A USR2 child: once the old arbiter has exited, take over the pidfile. */
  #maybePromote(): void {
    if (!this.#upgradeParent || process.ppid === this.#upgradeParent) return;
    this.#upgradeParent = undefined;
    clearInterval(this.#promotionTimer);
    delete process.env.KELPIE_PID;
    this.#log.info('Master has been promoted.');
    if (this.#pidfile && this.#settings.pidfile) {
      try {
        renamePidfile(this.#pidfile, this.#settings.pidfile);
        this.#pidfile = this.#settings.pidfile;
      } catch (error) {
        this.#log.error(`Could not take over the pid file ${this.#settings.pidfile}`, error);
      }
    }
    process.title = `kelpie: master [${this.#settings.procName ?? this.#options.appModule}]`;
  }

  /** --max-worker-memory: a worker above the limit for 5 s in a row is replaced gracefully. */
  #checkMemory(): void {
    if (this.#state !== 'running') return;
    const limit = this.#settings.maxWorkerMemory * 1024 * 1024;
    const now = Date.now();
    for (const worker of this.#workers.values()) {
      if (worker.retiring || limit <= 0 || worker.rss <= limit) {
        worker.overMemorySince = null;
        continue;
      }
      worker.overMemorySince ??= now;
      if (now - worker.overMemorySince < 5000) continue;
      this.#log.warning(
        `Worker (pid:${worker.pid}) uses ${Math.round(worker.rss / 1048576)} MB, above --max-worker-memory ${this.#settings.maxWorkerMemory} MB: replacing it`,
      );
      this.#retire(worker, 'memory');
    }
    this.#manageWorkers();
  }

  #startChecks(): void {
    if (this.#settings.timeout > 0) {
      const every = Math.min(1000, Math.max(100, this.#settings.timeout * 250));
      this.#checkTimer = setInterval(() => this.#murderWorkers(), every);
    }
  }

  /** A listener's URL as clients use it: https when TLS is on. */
  #urlOf(listener: Listener): string {
    return this.#tls ? listener.url.replace(/^http:/, 'https:') : listener.url;
  }

  /** What server hooks see of the arbiter. */
  view(): ServerView {
    return {
      pid: process.pid,
      settings: this.#settings,
      appModule: this.#options.appModule,
      log: this.#log,
      numWorkers: this.#numWorkers,
      workers: [...this.#workers.values()].map((w) => ({ pid: w.pid, age: w.age })),
    };
  }

  get #dispatching(): boolean {
    return this.#options.worker.workerClass.accept === 'arbiter';
  }

  /** --sticky with a class that accepts on its own otherwise (checkSticky refuses the others at start). */
  get #sticky(): boolean {
    return this.#settings.sticky && !this.#dispatching;
  }

  /** The arbiter accepts the connections (and the workers do not). */
  get #accepting(): boolean {
    return this.#dispatching || this.#sticky;
  }

  #onConnection(client: ClientHandle, listener: number): void {
    if (this.#state !== 'running') {
      client.close();
      return;
    }
    if (this.#queue.length + this.#stickyDispatch.pending >= this.#settings.backlog) {
      client.close();
      const skipped = this.#backlogDrops.take();
      if (skipped !== undefined) {
        this.#log.warning(
          `Every worker is busy and ${this.#settings.backlog} connections (--backlog) are waiting: closed ${skipped + 1} new connection(s)`,
        );
      }
      return;
    }
    if (this.#sticky) {
      this.#stickyDispatch.accept(client, listener);
      return;
    }
    this.#queue.push({ client, listener });
    this.#dispatch();
  }

  /** Hand queued connections to workers that asked for them, the longest idle first. */
  #dispatch(): void {
    while (this.#queue.length > 0) {
      const worker = this.#nextIdle();
      if (!worker) return;
      const connection = this.#queue.shift() as QueuedConnection;
      worker.credits--;
      if (worker.credits > 0) this.#idle.push(worker);
      const message = { type: 'kelpie:connection', listener: connection.listener };
      worker.child.send(message, connection.client as never, (error) => {
        if (!error) {
          // The worker has its own descriptor now.
          connection.client.close();
          return;
        }
        // The worker is gone: the next idle one takes the connection, unless the arbiter is
        // stopping (its queue was already closed).
        if (this.#state !== 'running') {
          connection.client.close();
          return;
        }
        this.#queue.unshift(connection);
        this.#dispatch();
      });
    }
  }

  #nextIdle(): WorkerRecord | undefined {
    while (this.#idle.length > 0) {
      const worker = this.#idle.shift() as WorkerRecord;
      if (worker.credits > 0 && !worker.retiring && this.#workers.get(worker.pid) === worker) return worker;
    }
    return undefined;
  }

  #onSignal(signal: HandledSignal): void {
    const name = signal.slice(3).toLowerCase();
    this.#log.info(`Handling signal: ${name}`);
    if (this.#state === 'starting') {
      if (signal === 'SIGTERM') this.#stopWhileStarting = true;
      if (signal === 'SIGINT' || signal === 'SIGQUIT') this.#stopWhileStarting = false;
      return;
    }
    switch (signal) {
      case 'SIGTERM':
        this.stop(true);
        break;
      case 'SIGINT':
      case 'SIGQUIT':
        this.stop(false);
        break;
      case 'SIGHUP':
        this.reload();
        break;
      case 'SIGTTIN':
        this.setWorkerCount(this.#numWorkers + 1);
        break;
      case 'SIGTTOU':
        this.setWorkerCount(this.#numWorkers - 1);
        break;
      case 'SIGUSR1':
        // logrotate: open the log files again here and in every worker.
        this.reopenLogs();
        break;
      case 'SIGUSR2':
        void this.#reexec();
        break;
      case 'SIGWINCH':
        this.#winch();
        break;
    }
  }

  /**
   * USR2: start a new arbiter from the same command line (the code on disk now), handing it the
   * listening sockets (KELPIE_FD) and this pid (KELPIE_PID). Both serve until one is stopped.
   */
  async #reexec(): Promise<void> {
    if (this.#state !== 'running') return;
    if (this.#upgradeChild) {
      this.#log.warning(`USR2 ignored: the new arbiter (pid: ${this.#upgradeChild.pid}) is still running`);
      return;
    }
    if (this.#upgradeParent) {
      this.#log.warning('USR2 ignored: this arbiter was itself started by USR2 and is not promoted yet');
      return;
    }
    if (this.#reexecPending) {
      this.#log.warning('USR2 ignored: an upgrade is already being started');
      return;
    }
    this.#reexecPending = true;
    try {
      await runHook(this.#hooks, 'preExec', this.#log, this.view());
    } finally {
      this.#reexecPending = false;
    }
    // The hook may have run while a TERM or INT arrived: a stopping arbiter starts no successor.
    if (this.#state !== 'running') return;
    const command = this.#options.reexec ?? {
      execPath: process.execPath,
      args: [...process.execArgv, ...process.argv.slice(1)],
      cwd: process.cwd(),
      env: process.env,
    };
    const fds = this.#listeners.map((listener) => listener.fd);
    const child = spawn(command.execPath, command.args, {
      cwd: command.cwd,
      env: {
        ...command.env,
        KELPIE_PID: String(process.pid),
        // No IPC channel here: the sockets are descriptors 3, 4, ...
        KELPIE_FD: fds.map((_, i) => 3 + i).join(','),
      },
      stdio: ['inherit', 'inherit', 'inherit', ...fds],
      // Its own process group: signals for this arbiter's group must not reach it.
      detached: true,
    });
    if (child.pid === undefined) {
      child.once('error', (error) => this.#log.error('Could not start a new arbiter for USR2', error));
      return;
    }
    this.#upgradeChild = child;
    child.unref();
    this.#log.info(`Started a new arbiter (pid: ${child.pid}) with the listening sockets`);
    child.once('exit', (code, signal) => {
      this.#upgradeChild = undefined;
      this.#log.info(`The new arbiter (pid: ${child.pid}) exited (${signal ?? `code ${code}`})`);
      // A rollback: the new arbiter had taken the control socket's path over and removed it.
      if (this.#state === 'running' && this.#control) void this.#openControl(undefined);
    });
  }

  /**
   * WINCH: stop every worker but keep the arbiter and its sockets (the first step of a binary
   * upgrade: the new arbiter serves alone; HUP brings the workers back). As in Gunicorn it acts
   * for a daemonized arbiter; kelpie also acts while a USR2 arbiter it started is running.
   */
  #winch(): void {
    if (this.#state !== 'running') return;
    if (!this.#settings.daemon && !this.#upgradeChild) {
      this.#log.info('SIGWINCH ignored. Not daemonized and no binary upgrade under way.');
      return;
    }
    this.#log.info('graceful stop of workers');
    this.#numWorkers = 0;
    for (const worker of this.#workers.values()) if (!worker.retiring) this.#retire(worker, 'scale');
  }

  /** TTIN/TTOU: change the target number of workers (never below 1). */
  setWorkerCount(count: number): void {
    if (this.#state !== 'running') return;
    const next = Math.min(MAX_WORKERS, Math.max(1, count));
    if (count > MAX_WORKERS) this.#log.warning(`Cannot run more than ${MAX_WORKERS} workers (--workers' maximum)`);
    if (next === this.#numWorkers) return;
    this.#changeWorkerCount(next);
    this.#manageWorkers();
  }

  /** A new target number of workers: logged, and told to the nworkersChanged hook. */
  #changeWorkerCount(next: number): void {
    this.#log.info(`Number of workers changed from ${this.#numWorkers} to ${next}`);
    const old = this.#numWorkers;
    this.#numWorkers = next;
    runHookNow(this.#hooks, 'nworkersChanged', this.#log, this.view(), next, old);
  }

  /** HUP: start a new generation of workers with freshly loaded app code; retire the old ones as the new ones get ready. */
  reload(): void {
    if (this.#state !== 'running') return;
    this.#log.info('Hang up: Master');
    void this.#reload();
  }

  async #reload(): Promise<void> {
    if (this.#options.reconfigure) {
      let next: Reconfiguration;
      try {
        next = await this.#options.reconfigure();
      } catch (error) {
        this.#log.error(
          `Reload failed, keeping the running configuration and workers: ${error instanceof Error ? error.message : String(error)}`,
        );
        return;
      }
      if (this.#state !== 'running') return;
      const watched = () => JSON.stringify([this.#settings.reload, this.#settings.reloadExtraFile, this.#configFile]);
      const watchedBefore = watched();
      this.#applySettings(next.settings);
      this.#hooks = next.hooks;
      this.#configFile = next.configFile;
      this.#tls = next.tls;
      if (watched() !== watchedBefore) {
        this.#stopWatching?.();
        this.#stopWatching = undefined;
        if (this.#settings.reload) this.#watch();
      }
    }
    // As in Gunicorn, HUP goes back to --workers: TTIN/TTOU changes, a failed reload's smaller
    // generation and WINCH's zero (the rollback of a binary upgrade) last until the next HUP.
    if (this.#numWorkers !== this.#settings.workers) this.#changeWorkerCount(this.#settings.workers);
    await runHook(this.#hooks, 'onReload', this.#log, this.view());
    if (this.#state !== 'running') return;
    this.#generation++;
    for (const worker of this.#workers.values()) worker.outdated = true;
    this.#manageWorkers();
  }

  /** Settings read again on HUP: take what can change while running, say what cannot. */
  #applySettings(next: Settings): void {
    const before = this.#settings;
    const fixed = RESTART_ONLY_SETTINGS.filter((name) => JSON.stringify(before[name]) !== JSON.stringify(next[name]));
    for (const name of fixed) {
      this.#log.warning(`Reload: a new value of ${name} takes effect on restart (or USR2), not on HUP`);
      (next as Record<string, unknown>)[name] = before[name];
    }
    this.#settings = next;
    if (next.timeout !== before.timeout) {
      clearInterval(this.#checkTimer);
      this.#startChecks();
    }
    if (next.maxWorkerMemory > 0 !== before.maxWorkerMemory > 0) {
      clearInterval(this.#memoryTimer);
      this.#memoryTimer = undefined;
      this.#startMemoryChecks();
    }
  }

  /** TERM (graceful) or INT/QUIT (quick). */
  stop(graceful: boolean, exitCode: number = ExitCode.OK): void {
    if (this.#state === 'stopped') return;
    if (this.#state === 'stopping') {
      // A quick stop during a graceful one hurries the workers along.
      if (!graceful) this.#signalAll('SIGQUIT');
      return;
    }
    this.#state = 'stopping';
    this.#exitCode = exitCode;
    clearInterval(this.#checkTimer);
    clearInterval(this.#memoryTimer);
    this.#stopWatching?.();
    clearInterval(this.#promotionTimer);
    // Nothing more starts: a spawn batch still to come, or a restart the backoff holds back.
    clearImmediate(this.#spawnTurn);
    for (const restart of this.#delayedRestarts) clearTimeout(restart.timer);
    this.#delayedRestarts.clear();
    // A unix socket file stays while the other arbiter of a binary upgrade still uses it.
    this.#maybePromote();
    const keepFile = Boolean(this.#upgradeChild || this.#upgradeParent);
    for (const listener of this.#listeners) listener.close({ keepFile });
    const waiting = this.#queue.length + this.#stickyDispatch.close();
    if (waiting > 0) this.#log.info(`Closing ${waiting} connection(s) no worker had taken yet`);
    for (const { client } of this.#queue.splice(0)) client.close();
    this.#signalAll(graceful ? 'SIGTERM' : 'SIGQUIT');
    // Workers end their own drain at --graceful-timeout; the arbiter's SIGKILL comes a second
    // later, for workers that could not (a blocked event loop).
    this.#killTimer = setTimeout(
      () => {
        for (const worker of this.#workers.values()) worker.killedAfterGraceful = true;
        this.#signalAll('SIGKILL');
      },
      this.#settings.gracefulTimeout * 1000 + 1000,
    );
    this.#maybeFinish();
  }

  #signalAll(signal: NodeJS.Signals): void {
    for (const worker of this.#workers.values()) {
      worker.retiring = true;
      worker.credits = 0;
      worker.child.kill(signal);
    }
  }

  #maybeFinish(): void {
    if (this.#state !== 'stopping' || this.#workers.size > 0) return;
    this.#state = 'stopped';
    clearTimeout(this.#killTimer);
    // Kept until now: `kelpie ctl status` and /healthz (503) answer during the drain.
    this.#control?.close();
    this.#metrics?.close();
    clearTimeout(this.#metricsRetry);
    clearInterval(this.#statsdTimer);
    this.#removeSignalHandlers();
    if (this.#pidfile) removePidfile(this.#pidfile);
    this.#log.info('Shutting down: Master');
    if (this.#haltReason) this.#log.error(`Reason: ${this.#haltReason}`);
    void runHook(this.#hooks, 'onExit', this.#log, this.view()).then(() => this.#done(this.#exitCode));
  }

  #removeSignalHandlers(): void {
    for (const [signal, handler] of this.#handlers) process.off(signal, handler);
    this.#handlers.clear();
  }

  /** Spawn up to the target (restarts the backoff holds back count); retire surplus and outdated workers, oldest first. */
  #manageWorkers(): void {
    if (this.#state !== 'running') return;
    const current = () => [...this.#workers.values()].filter((w) => !w.outdated && !w.retiring);
    let missing = this.#numWorkers - current().length - this.#delayedRestarts.size;
    // Fewer workers wanted (TTOU, WINCH) while restarts wait: those are dropped first.
    for (const restart of this.#delayedRestarts) {
      if (missing >= 0) break;
      clearTimeout(restart.timer);
      this.#delayedRestarts.delete(restart);
      missing++;
    }
    this.#spawnSome(missing);
    // A delay that ended while fewer workers were wanted starts nothing: its count goes.
    this.#dueQuickExits.length = 0;
    const surplus = current().sort((a, b) => a.age - b.age);
    while (surplus.length > this.#numWorkers) this.#retire(surplus.shift() as WorkerRecord, 'scale');
    this.#retireOutdated();
  }

  /** One outdated worker leaves for every ready worker of the current generation beyond what is still booting. */
  #retireOutdated(): void {
    // Workers still booting go first: a second HUP must not retire the ones that serve.
    const outdated = [...this.#workers.values()]
      .filter((w) => w.outdated && !w.retiring)
      .sort((a, b) => Number(a.ready) - Number(b.ready) || a.age - b.age);
    if (!outdated.length) return;
    const readyNew = [...this.#workers.values()].filter((w) => !w.outdated && !w.retiring && w.ready).length;
    const keep = Math.max(0, this.#numWorkers - readyNew);
    while (outdated.length > keep) this.#retire(outdated.shift() as WorkerRecord, 'reload');
  }

  /**
   * Spawn `count` workers, SPAWN_BATCH now and the rest on later turns of the event loop, so a
   * signal that arrives while hundreds start is handled between two batches, not after the last.
   */
  #spawnSome(count: number): void {
    for (let i = 0; i < Math.min(count, SPAWN_BATCH); i++) this.#spawnWorker();
    if (count > SPAWN_BATCH) {
      this.#spawnTurn ??= setImmediate(() => {
        this.#spawnTurn = undefined;
        this.#manageWorkers();
      });
    }
  }

  /**
   * `kelpie:retiring`: a worker stops on its own (an uncaught exception, --max-requests). It takes
   * no more connections, and its replacement starts now rather than when it exits, so capacity
   * does not drop while it drains.
   */
  #onRetiring(worker: WorkerRecord, reason: 'crash' | 'max_requests'): void {
    if (this.#state !== 'running' || worker.retiring || this.#workers.get(worker.pid) !== worker) return;
    // From a worker, so untrusted: only the two reasons reach the restart counters.
    const crash = reason === 'crash';
    worker.retiring = true;
    worker.retireReason = crash ? 'crash' : 'max_requests';
    worker.credits = 0;
    const why = crash ? 'after an uncaught exception' : '(--max-requests)';
    const delayed = crash && this.#delayRestart(worker, 'crashed');
    // An outdated worker (HUP) is not replaced: the new generation takes its place.
    const now = !delayed && !worker.outdated ? ': starting its replacement' : '';
    this.#log.info(`Worker (pid:${worker.pid}) is retiring ${why}${now}`);
    // The worker ends its own drain at the deadline; this holds even if its timer cannot fire,
    // or if the worker said it was leaving and stays (what it says is not trusted).
    const graceful = this.#settings.gracefulTimeout;
    worker.drainTimer = setTimeout(
      () => {
        worker.killedAfterDrain = true;
        worker.child.kill('SIGKILL');
      },
      (crash ? crashDrainSeconds(graceful) : graceful) * 1000 + 1000,
    );
    this.#manageWorkers();
  }

  /**
   * Crash-loop backoff: a worker that left on its own sooner than --worker-min-uptime after it
   * started is replaced after a delay, --worker-restart-delay x1.5 for each quick exit in a row
   * of its slot, at most --worker-restart-delay-max. False when it lived long enough (no delay;
   * its replacement starts a new count) or belongs to a generation a reload replaces.
   */
  #delayRestart(worker: WorkerRecord, verb: 'exited' | 'crashed'): boolean {
    const { workerMinUptime, workerRestartDelay, workerRestartDelayMax } = this.#settings;
    const lived = Date.now() - worker.startedAt;
    if (worker.outdated || workerRestartDelay <= 0 || lived >= workerMinUptime * 1000) return false;
    const quickExits = worker.quickExits + 1;
    const delay = Math.min(workerRestartDelayMax, workerRestartDelay * 1.5 ** (quickExits - 1));
    this.#log.warning(
      `Worker (pid:${worker.pid}) ${verb} ${(lived / 1000).toFixed(1)} s after it started; its ${ordinal(quickExits)} quick exit in a row: restarting it in ${delay.toFixed(1)} s`,
    );
    const restart: DelayedRestart = {
      quickExits,
      timer: setTimeout(() => {
        this.#delayedRestarts.delete(restart);
        this.#dueQuickExits.push(restart.quickExits);
        this.#manageWorkers();
      }, delay * 1000),
    };
    this.#delayedRestarts.add(restart);
    this.#restartDelays++;
    return true;
  }

  #retire(worker: WorkerRecord, reason: RetireReason): void {
    worker.retiring = true;
    worker.retireReason = reason;
    worker.credits = 0;
    this.#log.debug(`Retiring worker (pid: ${worker.pid})`);
    worker.child.kill('SIGTERM');
  }

  #spawnWorker(): void {
    const age = ++this.#age;
    // Its slot's count of quick exits, when it replaces a worker that died young.
    const quickExits = this.#dueQuickExits.shift() ?? 0;
    const slot = freeSlot([...this.#workers.values()].filter((w) => !w.outdated && !w.retiring).map((w) => w.slot));
    const inherited: InheritedListener[] = this.#listeners.map((listener, i) => ({
      fd: FIRST_LISTENER_FD + i,
      bind: listener.address.text,
      url: this.#urlOf(listener),
      ...(this.#tls ? { tls: this.#tls } : {}),
      ...(this.#settings.reusePort && listener.address.kind === 'tcp'
        ? { reusePort: { host: listener.address.host, port: Number(new URL(listener.url).port || 80) } }
        : {}),
    }));
    runHookNow(this.#hooks, 'preFork', this.#log, this.view(), { pid: 0, age });
    const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--inspect'));
    // With --error-logfile, what a worker writes to stderr itself (a fatal error) lands there too.
    const errorFd = (this.#log.sink as { fd?: number }).fd ?? 2;
    const child = spawn(process.execPath, [...execArgv, this.#options.workerMain ?? defaultWorkerMain()], {
      // --capture-output: the worker's standard output goes where the error log goes.
      stdio: [0, this.#settings.captureOutput ? errorFd : 1, errorFd, 'ipc', ...this.#listeners.map((l) => l.fd)],
      cwd: this.#settings.chdir,
      env: workerEnvironment(
        process.env,
        this.#listeners.map((listener) => this.#urlOf(listener)),
        this.#settings.env,
      ),
      ...(this.#identity ?? {}),
    });
    const pid = child.pid;
    if (pid === undefined) {
      // A worker that cannot even be spawned (node not executable as --user, no memory for a
      // process) is a boot failure: stop rather than retry forever.
      child.once('error', (error) => {
        this.#log.error(`Could not spawn a worker process: ${error.message}`);
        if (this.#state !== 'running') return;
        this.#haltReason = 'Worker failed to boot.';
        this.stop(false, ExitCode.WORKER_BOOT_ERROR);
      });
      return;
    }
    const record: WorkerRecord = {
      pid,
      age,
      child,
      lastBeat: Date.now(),
      ready: false,
      outdated: false,
      generation: this.#generation,
      retiring: false,
      abortedAt: null,
      killedAfterTimeout: false,
      killedAfterGraceful: false,
      credits: 0,
      rss: 0,
      overMemorySince: null,
      startedAt: Date.now(),
      stats: null,
      retireReason: null,
      quickExits,
      drainTimer: undefined,
      killedAfterDrain: false,
      slot,
    };
    this.#workers.set(pid, record);
    runHookNow(this.#hooks, 'postFork', this.#log, this.view(), { pid, age });
    // Checked first (ipc/validate.ts): a bad message is dropped, and nothing here may throw.
    onWorkerMessages(child, record, this.#badMessages, (message) => {
      record.lastBeat = Date.now();
      switch (message.type) {
        case 'kelpie:ready':
          this.#onReady(record);
          break;
        case 'kelpie:accept':
          this.#onCredits(record, message.count);
          break;
        case 'kelpie:dup':
          this.#sendListener(record, message.listener);
          break;
        case 'kelpie:retiring':
          this.#onRetiring(record, message.reason);
          break;
        case 'kelpie:heartbeat':
          if (!message.stats) break;
          // The last report of a worker may come in after its exit was handled: what it adds
          // to the report the totals already have goes to them.
          if (!this.#workers.has(record.pid)) {
            addStatusDelta(this.#retiredStatuses, message.stats.statuses, record.stats?.statuses);
          }
          record.stats = message.stats;
          record.rss = message.stats.rss;
          break;
      }
    });
    child.once('exit', (code, signal) => this.#reap(record, code, signal));
    child.on('error', (error) => this.#log.debug(`Worker (pid:${pid}) channel error: ${error.message}`));
    const boot: BootMessage = {
      type: 'kelpie:boot',
      age,
      settings: this.#settings,
      appModule: this.#options.appModule,
      workerModule: this.#options.worker.module,
      workerExport: this.#options.worker.exportName,
      listeners: inherited,
      searchFrom: this.#options.searchFrom ?? [this.#settings.chdir],
      configFile: this.#configFile,
      workerHooks: hasWorkerHooks(this.#hooks),
    };
    child.send(boot);
  }

  #onCredits(worker: WorkerRecord, count: number): void {
    if (!this.#dispatching || worker.retiring || !(count > 0)) return;
    if (worker.credits === 0) this.#idle.push(worker);
    worker.credits = Math.min(worker.credits + count, MAX_ACCEPT_COUNT);
    this.#dispatch();
  }

  /** A worker asked for its own descriptor of a listener (one per thread that accepts). */
  #sendListener(worker: WorkerRecord, index: number): void {
    const listener = Number.isInteger(index) && index >= 0 ? this.#listeners[index] : undefined;
    if (!listener) {
      this.#badMessages.drop(worker, `kelpie:dup: no listener ${index} (${this.#listeners.length} open)`);
      return;
    }
    if (worker.retiring) return;
    worker.child.send({ type: 'kelpie:listener', listener: index }, listener.handle as never, (error) => {
      if (error) this.#log.debug(`Could not send a listener to worker (pid:${worker.pid}): ${error.message}`);
    });
  }

  #onReady(worker: WorkerRecord): void {
    worker.ready = true;
    this.#log.debug(`Worker ready (pid: ${worker.pid})`);
    if (!this.#announcedReady && !worker.outdated) {
      const ready = [...this.#workers.values()].filter((w) => w.ready).length;
      if (ready >= this.#numWorkers) {
        this.#announcedReady = true;
        this.#log.info(`Ready: ${ready} worker${ready === 1 ? '' : 's'} serving`);
        runHookNow(this.#hooks, 'whenReady', this.#log, this.view());
      }
    }
    this.#retireOutdated();
    if (this.#sticky) this.#stickyDispatch.dispatchWaiting();
  }

  #reap(worker: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
    this.#workers.delete(worker.pid);
    clearTimeout(worker.drainTimer);
    addStatuses(this.#retiredStatuses, worker.stats?.statuses);
    if (this.#state === 'running') {
      const reason = restartReason(worker, code, signal);
      if (reason) this.#restarts[reason] = (this.#restarts[reason] ?? 0) + 1;
    }
    const log = this.#log;
    runHookNow(this.#hooks, 'childExit', log, this.view(), { pid: worker.pid, age: worker.age, code, signal });
    if (signal === 'SIGKILL') {
      if (worker.killedAfterTimeout) log.error(`Worker (pid:${worker.pid}) was sent SIGKILL after WORKER TIMEOUT`);
      else if (worker.killedAfterDrain) {
        log.warning(`Worker (pid:${worker.pid}) was sent SIGKILL after its drain deadline (it said it was retiring)`);
      } else if (worker.killedAfterGraceful) {
        log.warning(`Worker (pid:${worker.pid}) was sent SIGKILL after --graceful-timeout`);
      } else log.error(`Worker (pid:${worker.pid}) was sent SIGKILL! Perhaps out of memory?`);
    } else if (signal === 'SIGTERM' && !worker.retiring) {
      log.info(`Worker (pid:${worker.pid}) was sent SIGTERM!`);
    } else if (signal && !worker.retiring) {
      log.warning(`Worker (pid:${worker.pid}) was sent ${signal}!`);
    } else if (code !== null && code !== ExitCode.OK && this.#state !== 'stopping') {
      log.error(`Worker (pid:${worker.pid}) exited with code ${code}`);
    }

    if (this.#state === 'running' && (code === ExitCode.WORKER_BOOT_ERROR || code === ExitCode.APP_LOAD_ERROR)) {
      // A reload (HUP, --reload) whose new code does not load: the previous generation still
      // serves, so keep it rather than stop the server.
      // Replaced already (a second HUP came while it booted) or part of an abandoned reload.
      if (worker.outdated || worker.generation === this.#abandonedGeneration) {
        this.#manageWorkers();
        return;
      }
      if (!worker.outdated && this.#keepPreviousGeneration(worker.generation, code)) return;
      this.#haltReason = code === ExitCode.WORKER_BOOT_ERROR ? 'Worker failed to boot.' : 'App failed to load.';
      this.stop(false, code);
      return;
    }
    if (this.#state === 'stopping') {
      this.#maybeFinish();
      return;
    }
    // Left without being asked (a crash, a signal, a timeout): restarted after a delay if it died young.
    if (this.#state === 'running' && !worker.retiring) this.#delayRestart(worker, 'exited');
    this.#manageWorkers();
  }

  /**
   * After a new worker failed to boot during a reload: the outdated workers still serving become
   * the current generation again and the new ones still booting are sent away. False when no
   * outdated worker is left to keep.
   */
  #keepPreviousGeneration(failed: number, code: number): boolean {
    const previous = [...this.#workers.values()].filter((w) => w.outdated && !w.retiring);
    if (!previous.length) return false;
    this.#abandonedGeneration = failed;
    // Workers spawned from now on (replacements) are a generation of their own again.
    this.#generation++;
    const reason = code === ExitCode.WORKER_BOOT_ERROR ? 'a new worker failed to boot' : 'the app failed to load';
    for (const worker of previous) worker.outdated = false;
    for (const worker of this.#workers.values()) {
      if (!worker.outdated && !worker.retiring && !worker.ready && !previous.includes(worker)) {
        this.#retire(worker, 'reload');
      }
    }
    const kept = [...this.#workers.values()].filter((w) => !w.retiring).length;
    this.#log.error(`Reload failed (${reason}); keeping the ${kept} running worker(s) of the previous generation`);
    if (kept < this.#numWorkers) this.#numWorkers = kept;
    this.#manageWorkers();
    return true;
  }

  /** Workers whose heartbeat stopped for longer than --timeout: SIGABRT, then SIGKILL on the next pass. */
  #murderWorkers(): void {
    const limit = this.#settings.timeout * 1000;
    const now = Date.now();
    for (const worker of this.#workers.values()) {
      if (now - worker.lastBeat <= limit) continue;
      if (worker.abortedAt === null) {
        this.#log.critical(`WORKER TIMEOUT (pid:${worker.pid})`);
        worker.abortedAt = now;
        worker.child.kill('SIGABRT');
      } else if (!worker.killedAfterTimeout && now - worker.abortedAt >= Math.min(1000, limit)) {
        worker.killedAfterTimeout = true;
        worker.child.kill('SIGKILL');
      }
    }
  }
}

/** Why a worker that exited while the server runs was replaced; null when it is not a restart. */
function restartReason(worker: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): string | null {
  if (worker.abortedAt !== null || worker.killedAfterTimeout) return 'timeout';
  if (worker.retiring) {
    if (worker.retireReason === 'scale' || worker.retireReason === null) return null;
    return worker.retireReason;
  }
  if (signal) return 'signal';
  // --max-requests announces itself (kelpie:retiring): a silent exit 0 is the app's own.
  if (code === ExitCode.OK) return 'exit';
  return 'crash';
}

/** 1st, 2nd, 3rd, 4th, ... 11th, 12th, 13th, ... 21st. */
function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}
