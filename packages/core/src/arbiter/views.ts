import type { MetricsSnapshot } from '../observability/metrics.js';
import { VERSION } from '../version.js';
import type { ArbiterContext } from './context.js';
import type { ServerStatus } from './control.js';
import type { WorkerPool } from './pool.js';

/**
 * What the arbiter shows of itself: the status `kelpie ctl status` and `top` read on the control
 * socket, the snapshot /metrics aggregates, and the /healthz answer. Read-only; the server hooks'
 * view is ArbiterContext.view().
 */

/** The server and each worker, oldest first, for `kelpie ctl status` and `top`. */
export function serverStatus(ctx: ArbiterContext): ServerStatus {
  const now = Date.now();
  return {
    pid: process.pid,
    version: VERSION,
    appModule: ctx.options.appModule,
    workerClass: ctx.options.worker.meta.name,
    state: ctx.phase,
    startedAt: ctx.startedAt,
    numWorkers: ctx.numWorkers,
    listeners: ctx.listeners.map((listener) => ctx.urlOf(listener)),
    workers: [...ctx.workers.values()]
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

/** For /metrics: each worker's last report, and what exited workers and restarts add up to. */
export function metricsSnapshot(ctx: ArbiterContext, pool: WorkerPool): MetricsSnapshot {
  return {
    workers: [...ctx.workers.values()].map((w) => ({ pid: w.pid, stats: w.stats })),
    retired: pool.retiredStatuses,
    restarts: { ...pool.restarts },
    restartDelays: pool.restartDelays,
    numWorkers: ctx.numWorkers,
  };
}

/** /healthz: every worker booted (once), some worker serving now, and not shutting down. */
export function healthy(ctx: ArbiterContext, pool: WorkerPool): boolean {
  if (!ctx.running || !pool.announcedReady) return false;
  for (const worker of ctx.workers.values()) if (worker.ready && !worker.retiring) return true;
  return false;
}
