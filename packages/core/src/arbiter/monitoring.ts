import { resolve } from 'node:path';
import { type MetricsServer, type MetricsSource, openMetricsServer } from '../observability/metrics.js';
import { statsdClient } from '../observability/statsd.js';
import type { ArbiterContext } from './context.js';
import { type ControlServer, type ControlTarget, openControlSocket, type ServerStatus } from './control.js';
import type { WorkerPool } from './pool.js';
import type { Upgrade } from './upgrade.js';

/**
 * What operators watch and steer the arbiter with, opened once it runs and closed last when it
 * stops: the control socket (`kelpie ctl`, control.ts speaks its protocol), the --metrics-bind
 * server (/metrics, /healthz) and the StatsD workers gauge.
 */

/** What the control socket and /metrics ask of the arbiter. */
export interface Steerable extends MetricsSource {
  status(): ServerStatus;
  reload(): void;
  reopenLogs(): string[];
  stop(graceful: boolean): void;
  setWorkerCount(count: number): void;
}

export class Monitoring {
  readonly #ctx: ArbiterContext;
  readonly #arbiter: Steerable;
  readonly #pool: WorkerPool;
  readonly #upgrade: Upgrade;
  #control: ControlServer | undefined;
  #metrics: MetricsServer | undefined;
  #metricsRetry: NodeJS.Timeout | undefined;
  #statsdTimer: NodeJS.Timeout | undefined;

  constructor(ctx: ArbiterContext, arbiter: Steerable, pool: WorkerPool, upgrade: Upgrade) {
    this.#ctx = ctx;
    this.#arbiter = arbiter;
    this.#pool = pool;
    this.#upgrade = upgrade;
  }

  /** The control socket, --metrics-bind and the StatsD workers gauge. */
  async start(): Promise<void> {
    const { settings, log, workers } = this.#ctx;
    if (!settings.controlSocketDisable) await this.#openControl(this.#upgrade.parent);
    if (settings.metricsBind) this.#openMetrics(settings.metricsBind);
    const statsd = statsdClient(settings, log);
    if (statsd) {
      this.#statsdTimer = setInterval(() => statsd.gauge('kelpie.workers', workers.size), 1000);
      this.#statsdTimer.unref();
    }
  }

  /** The new arbiter of an upgrade exited: it had taken the control socket's path over and removed it. */
  upgradeRolledBack(): void {
    if (this.#ctx.running && this.#control) void this.#openControl(undefined);
  }

  /** The arbiter has stopped: kept until now, so `kelpie ctl status` and /healthz (503) answer during the drain. */
  close(): void {
    this.#control?.close();
    this.#metrics?.close();
    clearTimeout(this.#metricsRetry);
    clearInterval(this.#statsdTimer);
  }

  /** Listen on --control-socket, taking it over from `takeOverFrom` (a pid) if that arbiter has it. */
  async #openControl(takeOverFrom: number | undefined): Promise<void> {
    const ctx = this.#ctx;
    const path = resolve(ctx.settings.chdir, ctx.settings.controlSocket);
    this.#control?.close();
    this.#control = await openControlSocket(path, this.#controlTarget(), ctx.log, { takeOverFrom });
    if (!ctx.running) this.#control?.close();
  }

  #openMetrics(bind: string): void {
    const ctx = this.#ctx;
    openMetricsServer(bind, this.#arbiter, ctx.log).then(
      (server) => {
        if (ctx.phase === 'stopped') return server.close();
        this.#metrics = server;
        ctx.log.info(`Metrics at: ${server.url}/metrics (${process.pid})`);
      },
      (error: NodeJS.ErrnoException) => {
        if (ctx.phase === 'stopped') return;
        // A USR2 successor waits for the old arbiter to let go of the port.
        if (error.code === 'EADDRINUSE' && this.#upgrade.parent) {
          this.#metricsRetry = setTimeout(() => this.#openMetrics(bind), 1000);
          return;
        }
        ctx.log.error(`Cannot serve metrics at ${bind}: ${error.message}`);
      },
    );
  }

  /** What `kelpie ctl` can do. */
  #controlTarget(): ControlTarget {
    const ctx = this.#ctx;
    const arbiter = this.#arbiter;
    const running = () => {
      if (!ctx.running) throw new Error(`the server is ${ctx.phase}`);
    };
    return {
      status: () => arbiter.status(),
      reload: () => {
        running();
        arbiter.reload();
      },
      reopenLogs: () => arbiter.reopenLogs(),
      stop: (graceful) => {
        ctx.log.info(`Shutdown requested on the control socket (${graceful ? 'graceful' : 'quick'})`);
        arbiter.stop(graceful);
      },
      addWorkers: (count) => {
        running();
        arbiter.setWorkerCount(ctx.numWorkers + count);
        return ctx.numWorkers;
      },
      removeWorkers: (count) => {
        running();
        if (ctx.numWorkers - count < 1) {
          throw new Error(`cannot remove ${count} of ${ctx.numWorkers} worker(s): at least 1 must stay`);
        }
        arbiter.setWorkerCount(ctx.numWorkers - count);
        return ctx.numWorkers;
      },
      killWorker: (pid) => this.#killWorker(pid),
    };
  }

  /** `kelpie ctl worker kill PID`: replace one worker, its replacement started first. */
  #killWorker(pid: number): void {
    const ctx = this.#ctx;
    if (!ctx.running) throw new Error(`the server is ${ctx.phase}`);
    const worker = ctx.workers.get(pid);
    if (!worker) {
      throw new Error(`no worker with pid ${pid}; workers: ${[...ctx.workers.keys()].join(', ') || 'none'}`);
    }
    if (worker.retiring) throw new Error(`worker ${pid} is already stopping`);
    ctx.log.info(`Replacing worker (pid: ${pid}) as asked on the control socket`);
    this.#pool.retire(worker, 'killed');
    this.#pool.manage();
  }
}
