import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Logger, LogThrottle } from '../observability/logger.js';
import { requestStats, type WorkerStats } from '../observability/stats.js';
import { send } from './channel.js';
import { messageOf, type WorkerProcess } from './worker-process.js';

/**
 * The heartbeat (SPEC.md 2.7): a timer that proves the event loop runs. A worker process sends
 * its statistics to the arbiter with each beat; an app thread of -k threads bumps a counter its
 * process's main thread watches. Both beat at the same pace, from `startHeartbeat`.
 */

/** How often the event loop reports in: well inside --timeout, at most once a second. */
export function heartbeatInterval(timeoutSeconds: number): number {
  if (timeoutSeconds <= 0) return 1000;
  return Math.max(50, Math.min(1000, (timeoutSeconds * 1000) / 4));
}

/** Call `beat` every heartbeatInterval(timeoutSeconds), without keeping the process or thread alive. */
export function startHeartbeat(timeoutSeconds: number, beat: () => void): NodeJS.Timeout {
  const timer = setInterval(beat, heartbeatInterval(timeoutSeconds));
  timer.unref();
  return timer;
}

/**
 * A worker process's heartbeats to the arbiter, each with its statistics. Returns the final
 * report: one more heartbeat, sent at the end of the drain and waited for (at most 200 ms).
 */
export function reportHeartbeats(proc: WorkerProcess): () => Promise<void> {
  const stats = statistics(proc);
  startHeartbeat(proc.settings.timeout, () => send({ type: 'kelpie:heartbeat', stats: stats() }));
  return () =>
    new Promise<void>((resolve) => {
      if (!process.connected || !process.send) return resolve();
      const timer = setTimeout(resolve, 200);
      process.send({ type: 'kelpie:heartbeat', stats: stats() }, undefined, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
}

/** What each heartbeat reports: requests, memory, the event loop's delay. */
function statistics(proc: WorkerProcess): () => WorkerStats {
  // The event loop's delay, sampled every 20 ms; each heartbeat reports the largest since the last.
  const RESOLUTION_MS = 20;
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  const timed = proc.settings.metricsBind !== null;
  const rss = residentMemory(proc.log);
  return () => {
    const { worker } = proc;
    const requests = worker?.requestStats() ?? requestStats();
    // The histogram holds whole intervals between samples: the delay is what exceeds the resolution.
    const lagMs = delay.count > 0 ? Math.max(0, delay.max / 1e6 - RESOLUTION_MS) : 0;
    const lag = Math.round(lagMs * 1000) / 1e6;
    delay.reset();
    return {
      requests: worker?.requests ?? 0,
      inFlight: Math.max(0, requests.inFlight),
      rss: rss(),
      lag,
      ...(timed ? { statuses: requests.statuses() } : {}),
    };
  };
}

/**
 * The worker's resident memory for heartbeats. Node reads it from /proc on Linux, which takes a
 * descriptor: a worker out of them (EMFILE) reports the last value it read, and says so at most
 * once a minute, rather than failing its heartbeat.
 */
function residentMemory(log: Logger): () => number {
  let last = 0;
  const throttle = new LogThrottle(60_000);
  return () => {
    try {
      last = process.memoryUsage.rss();
    } catch (error) {
      if (throttle.take() !== undefined) {
        log.warning(`Could not read this worker's memory use (${messageOf(error)}); reporting the last value read`);
      }
    }
    return last;
  };
}
