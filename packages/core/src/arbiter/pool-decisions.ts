import type { Settings } from '../config/settings.js';
import { ExitCode } from '../exit-codes.js';
import { crashDrainSeconds } from '../ipc/protocol.js';
import { freeSlot } from './sticky.js';
import type { WorkerRecord } from './worker-record.js';

/**
 * The worker pool's decisions, apart from processes and timers so they can be tested alone:
 * how many workers to start, which ones leave (oldest first, as in Gunicorn), which slot a new
 * worker takes, the crash-loop backoff, the heartbeat and memory verdicts, and what the arbiter
 * says about an exit. pool.ts carries them out.
 */

/** Workers spawned per turn of the event loop: signals are handled between batches. */
export const SPAWN_BATCH = 4;

/** --max-worker-memory: how long a worker may stay above the limit before it is replaced. */
export const MEMORY_GRACE_MS = 5000;

/**
 * Workers to start now (`spawn`, below 0 when there are too many) and restarts held back by the
 * backoff to cancel (`cancelDelayed`): fewer workers wanted (TTOU, WINCH) drops those first.
 */
export function planSpawns(target: number, current: number, delayed: number): { spawn: number; cancelDelayed: number } {
  const missing = target - current - delayed;
  const cancelDelayed = Math.min(delayed, Math.max(0, -missing));
  return { spawn: missing + cancelDelayed, cancelDelayed };
}

/** Of `count` workers to spawn: how many now, and whether more wait for the next turn. */
export function spawnBatch(count: number): { now: number; more: boolean } {
  return { now: Math.max(0, Math.min(count, SPAWN_BATCH)), more: count > SPAWN_BATCH };
}

type Aged = Pick<WorkerRecord, 'age'>;

/** TTOU, scale-down: the current workers beyond `target` leave, oldest (lowest age) first. */
export function surplusWorkers<W extends Aged>(current: readonly W[], target: number): W[] {
  const byAge = [...current].sort((a, b) => a.age - b.age);
  return byAge.slice(0, Math.max(0, byAge.length - target));
}

type Generational = Pick<WorkerRecord, 'age' | 'outdated' | 'retiring' | 'ready'>;

/**
 * After a reload: one outdated worker leaves for every ready worker of the current generation,
 * beyond what the target still needs. Outdated workers still booting go first (a second HUP
 * must not retire the ones that serve), then the oldest.
 */
export function outdatedToRetire<W extends Generational>(workers: Iterable<W>, target: number): W[] {
  const all = [...workers];
  const outdated = all
    .filter((w) => w.outdated && !w.retiring)
    .sort((a, b) => Number(a.ready) - Number(b.ready) || a.age - b.age);
  const readyNew = all.filter((w) => !w.outdated && !w.retiring && w.ready).length;
  const keep = Math.max(0, target - readyNew);
  return outdated.slice(0, Math.max(0, outdated.length - keep));
}

/** The slot a new worker takes: the lowest one no current worker holds (a replacement takes its predecessor's). */
export function slotForNewWorker(workers: Iterable<Pick<WorkerRecord, 'outdated' | 'retiring' | 'slot'>>): number {
  return freeSlot([...workers].filter((w) => !w.outdated && !w.retiring).map((w) => w.slot));
}

/**
 * Crash-loop backoff: a worker that left on its own sooner than --worker-min-uptime after it
 * started is replaced after a delay, --worker-restart-delay x1.5 for each quick exit in a row of
 * its slot, at most --worker-restart-delay-max (seconds). Null when it lived long enough (its
 * replacement starts a new count), the backoff is off, or it belongs to a generation a reload replaces.
 */
export function crashLoopDelay(
  settings: Pick<Settings, 'workerMinUptime' | 'workerRestartDelay' | 'workerRestartDelayMax'>,
  worker: Pick<WorkerRecord, 'outdated' | 'quickExits'>,
  livedMs: number,
): { quickExits: number; delay: number } | null {
  const { workerMinUptime, workerRestartDelay, workerRestartDelayMax } = settings;
  if (worker.outdated || workerRestartDelay <= 0 || livedMs >= workerMinUptime * 1000) return null;
  const quickExits = worker.quickExits + 1;
  return { quickExits, delay: Math.min(workerRestartDelayMax, workerRestartDelay * 1.5 ** (quickExits - 1)) };
}

/** How often the heartbeats are checked under --timeout (seconds): a quarter of it, within 0.1 to 1 s. */
export function heartbeatCheckInterval(timeout: number): number {
  return Math.min(1000, Math.max(100, timeout * 250));
}

/**
 * --timeout: a worker whose heartbeat stopped for longer than `limitMs` is sent SIGABRT
 * (`abort`), and SIGKILL (`kill`) on a pass at least a second (or the limit, if shorter) later.
 */
export function heartbeatVerdict(
  worker: Pick<WorkerRecord, 'lastBeat' | 'abortedAt' | 'killedAfterTimeout'>,
  now: number,
  limitMs: number,
): 'abort' | 'kill' | null {
  if (now - worker.lastBeat <= limitMs) return null;
  if (worker.abortedAt === null) return 'abort';
  if (!worker.killedAfterTimeout && now - worker.abortedAt >= Math.min(1000, limitMs)) return 'kill';
  return null;
}

/**
 * --max-worker-memory (`limitBytes`, 0: off): since when the worker has been above the limit in
 * this stretch (null: it is not), and whether it has been for MEMORY_GRACE_MS and is replaced.
 */
export function memoryVerdict(
  worker: Pick<WorkerRecord, 'retiring' | 'rss' | 'overMemorySince'>,
  limitBytes: number,
  now: number,
): { overMemorySince: number | null; replace: boolean } {
  if (worker.retiring || limitBytes <= 0 || worker.rss <= limitBytes) return { overMemorySince: null, replace: false };
  const since = worker.overMemorySince ?? now;
  return { overMemorySince: since, replace: now - since >= MEMORY_GRACE_MS };
}

/** After `kelpie:retiring`: when the arbiter sends SIGKILL if the worker is still there (ms after it said so). */
export function drainDeadlineMs(crash: boolean, gracefulTimeout: number): number {
  return (crash ? crashDrainSeconds(gracefulTimeout) : gracefulTimeout) * 1000 + 1000;
}

/** Why a worker that exited while the server runs was replaced (for /metrics); null when it is not a restart. */
export function restartReason(
  worker: Pick<WorkerRecord, 'abortedAt' | 'killedAfterTimeout' | 'retiring' | 'retireReason'>,
  code: number | null,
  signal: NodeJS.Signals | null,
): string | null {
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

/** What the arbiter logs when a worker exits (docs/signals.md has the table); undefined: nothing. */
export function exitLogLine(
  worker: Pick<WorkerRecord, 'pid' | 'retiring' | 'killedAfterTimeout' | 'killedAfterDrain' | 'killedAfterGraceful'>,
  code: number | null,
  signal: NodeJS.Signals | null,
  stopping: boolean,
): { level: 'error' | 'warning' | 'info'; message: string } | undefined {
  const who = `Worker (pid:${worker.pid})`;
  if (signal === 'SIGKILL') {
    if (worker.killedAfterTimeout) return { level: 'error', message: `${who} was sent SIGKILL after WORKER TIMEOUT` };
    if (worker.killedAfterDrain) {
      return {
        level: 'warning',
        message: `${who} was sent SIGKILL after its drain deadline (it said it was retiring)`,
      };
    }
    if (worker.killedAfterGraceful) {
      return { level: 'warning', message: `${who} was sent SIGKILL after --graceful-timeout` };
    }
    return { level: 'error', message: `${who} was sent SIGKILL! Perhaps out of memory?` };
  }
  if (signal === 'SIGTERM' && !worker.retiring) return { level: 'info', message: `${who} was sent SIGTERM!` };
  if (signal && !worker.retiring) return { level: 'warning', message: `${who} was sent ${signal}!` };
  if (code !== null && code !== ExitCode.OK && !stopping)
    return { level: 'error', message: `${who} exited with code ${code}` };
  return undefined;
}

/** A worker exit that means it could not boot or load the app: why the server halts on it; undefined otherwise. */
export function bootFailure(code: number | null): string | undefined {
  if (code === ExitCode.WORKER_BOOT_ERROR) return 'Worker failed to boot.';
  if (code === ExitCode.APP_LOAD_ERROR) return 'App failed to load.';
  return undefined;
}

/** 1st, 2nd, 3rd, 4th, ... 11th, 12th, 13th, ... 21st. */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}
