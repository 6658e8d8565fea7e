import { runHookNow } from '../config/hooks.js';
import { ExitCode } from '../exit-codes.js';
import type { WorkerMessage } from '../ipc/protocol.js';
import { addStatusDelta, addStatuses, type StatusStats, statusTotals } from '../observability/stats.js';
import type { Identity } from './accounts.js';
import type { ArbiterContext } from './context.js';
import type { ListenInWorker } from './listen-in-worker.js';
import {
  bootFailure,
  crashLoopDelay,
  drainDeadlineMs,
  exitLogLine,
  heartbeatCheckInterval,
  heartbeatVerdict,
  memoryVerdict,
  ordinal,
  outdatedToRetire,
  planSpawns,
  restartReason,
  slotForNewWorker,
  spawnBatch,
  surplusWorkers,
} from './pool-decisions.js';
import { bootMessage, inheritedListeners, spawnWorkerProcess } from './spawn.js';
import { BadMessageLog, onWorkerMessages } from './worker-messages.js';
import { newWorkerRecord, type RetireReason, type WorkerRecord } from './worker-record.js';

/**
 * The worker pool: keeps `numWorkers` worker processes alive. It spawns (a few per turn of the
 * event loop), reaps, retires surplus and outdated workers, restarts crashed ones with the
 * crash-loop backoff, reads their messages, and runs the heartbeat (--timeout) and memory
 * (--max-worker-memory) checks. The decisions themselves are in pool-decisions.ts.
 */

/** A restart the crash-loop backoff holds back, with its slot's count of quick exits. */
interface DelayedRestart {
  quickExits: number;
  timer: NodeJS.Timeout;
}

/** What the pool tells the arbiter. */
export interface PoolEvents {
  /** A worker could not boot or load the app and no previous generation is left: stop the server. */
  halt(reason: string, exitCode: number): void;
  /** A worker became ready (after the pool has retired what it replaces). */
  ready(worker: WorkerRecord): void;
  /** `kelpie:accept`: a worker asks for `count` more connections. */
  credits(worker: WorkerRecord, count: number): void;
  /** `kelpie:returned`: a worker gave back held connection `id` unread. */
  returned(worker: WorkerRecord, id: number): void;
  /** A worker exited (any reason, any phase), before its exit is logged. */
  exited(worker: WorkerRecord): void;
  /** A worker exited while the arbiter stops. */
  exitedWhileStopping(): void;
}

export class WorkerPool {
  readonly #ctx: ArbiterContext;
  readonly #events: PoolEvents;
  /** Messages from workers are untrusted: the bad ones are dropped and reported here. */
  readonly #badMessages: BadMessageLog;
  /** The --user and --group workers run as. */
  identity: Identity | undefined;
  /** At start, until the sockets listen: the first worker spawned puts them to listen(2). */
  listenInWorker: ListenInWorker | undefined;
  #age = 0;
  /** Reloads so far: each starts a generation of workers. */
  #generation = 0;
  /** A reload whose workers could not load the app: its other workers failing too is no news. */
  #abandonedGeneration = -1;
  /** The first full pool has been announced (`Ready: N workers serving`). */
  announcedReady = false;
  /** Crash-loop backoff: restarts waiting for their delay. */
  readonly #delayedRestarts = new Set<DelayedRestart>();
  /** Slot counts of restarts whose delay is over, for the workers manage() spawns next. */
  readonly #dueQuickExits: number[] = [];
  /** Restarts the backoff has delayed (for /metrics). */
  restartDelays = 0;
  /** More workers to spawn on the next turn of the event loop. */
  #spawnTurn: NodeJS.Immediate | undefined;
  /** Responses counted by workers that have exited (the /metrics counters keep them). */
  readonly retiredStatuses: Record<string, StatusStats> = statusTotals();
  /** Workers replaced, by reason. */
  readonly restarts: Record<string, number> = {};
  #checkTimer: NodeJS.Timeout | undefined;
  #memoryTimer: NodeJS.Timeout | undefined;

  constructor(ctx: ArbiterContext, events: PoolEvents) {
    this.#ctx = ctx;
    this.#events = events;
    this.#badMessages = new BadMessageLog(ctx.log);
  }

  /** Spawn up to the target (restarts the backoff holds back count); retire surplus and outdated workers, oldest first. */
  manage(): void {
    const ctx = this.#ctx;
    if (!ctx.running) return;
    const current = () => [...ctx.workers.values()].filter((w) => !w.outdated && !w.retiring);
    const plan = planSpawns(ctx.numWorkers, current().length, this.#delayedRestarts.size);
    let cancel = plan.cancelDelayed;
    for (const restart of this.#delayedRestarts) {
      if (cancel-- <= 0) break;
      clearTimeout(restart.timer);
      this.#delayedRestarts.delete(restart);
    }
    this.#spawnSome(plan.spawn);
    // A delay that ended while fewer workers were wanted starts nothing: its count goes.
    this.#dueQuickExits.length = 0;
    for (const worker of surplusWorkers(current(), ctx.numWorkers)) this.retire(worker, 'scale');
    this.#retireOutdated();
  }

  /** HUP: the workers alive now are outdated; a new generation replaces them as it gets ready. */
  newGeneration(): void {
    this.#generation++;
    for (const worker of this.#ctx.workers.values()) worker.outdated = true;
    this.manage();
  }

  /** Send a worker TERM to leave. */
  retire(worker: WorkerRecord, reason: RetireReason): void {
    worker.retiring = true;
    worker.retireReason = reason;
    worker.credits = 0;
    this.#ctx.log.debug(`Retiring worker (pid: ${worker.pid})`);
    worker.child.kill('SIGTERM');
  }

  /** Stopping: every worker is leaving; send each `signal`. */
  signalAll(signal: NodeJS.Signals): void {
    for (const worker of this.#ctx.workers.values()) {
      worker.retiring = true;
      worker.credits = 0;
      worker.child.kill(signal);
    }
  }

  /** A stop outlived --graceful-timeout: SIGKILL to every worker left. */
  killAll(): void {
    for (const worker of this.#ctx.workers.values()) worker.killedAfterGraceful = true;
    this.signalAll('SIGKILL');
  }

  /** Stopping: nothing more starts (a spawn batch still to come, a restart the backoff holds back). */
  cancelStarts(): void {
    clearImmediate(this.#spawnTurn);
    for (const restart of this.#delayedRestarts) clearTimeout(restart.timer);
    this.#delayedRestarts.clear();
  }

  /** One outdated worker leaves for every ready worker of the current generation beyond what is still booting. */
  #retireOutdated(): void {
    for (const worker of outdatedToRetire(this.#ctx.workers.values(), this.#ctx.numWorkers)) {
      this.retire(worker, 'reload');
    }
  }

  /**
   * Spawn `count` workers, SPAWN_BATCH now and the rest on later turns of the event loop, so a
   * signal that arrives while hundreds start is handled between two batches, not after the last.
   */
  #spawnSome(count: number): void {
    const batch = spawnBatch(count);
    for (let i = 0; i < batch.now; i++) this.#spawnWorker();
    if (batch.more) {
      this.#spawnTurn ??= setImmediate(() => {
        this.#spawnTurn = undefined;
        this.manage();
      });
    }
  }

  #spawnWorker(): void {
    const ctx = this.#ctx;
    const age = ++this.#age;
    // Its slot's count of quick exits, when it replaces a worker that died young.
    const quickExits = this.#dueQuickExits.shift() ?? 0;
    const slot = slotForNewWorker(ctx.workers.values());
    const inherited = inheritedListeners(ctx);
    runHookNow(ctx.hooks, 'preFork', ctx.log, ctx.view(), { pid: 0, age });
    const spares = this.listenInWorker?.claim();
    const child = spawnWorkerProcess(ctx, this.identity, spares);
    const pid = child.pid;
    if (spares) this.listenInWorker?.spawned(pid);
    if (pid === undefined) {
      // A worker that cannot even be spawned (node not executable as --user, no memory for a
      // process) is a boot failure: stop rather than retry forever.
      child.once('error', (error) => {
        ctx.log.error(`Could not spawn a worker process: ${error.message}`);
        if (!ctx.running) return;
        this.#events.halt('Worker failed to boot.', ExitCode.WORKER_BOOT_ERROR);
      });
      return;
    }
    const record = newWorkerRecord(child as typeof child & { pid: number }, {
      age,
      generation: this.#generation,
      quickExits,
      slot,
    });
    ctx.workers.set(pid, record);
    runHookNow(ctx.hooks, 'postFork', ctx.log, ctx.view(), { pid, age });
    // Checked first (worker-messages.ts): a bad message is dropped, and nothing here may throw.
    onWorkerMessages(child, record, this.#badMessages, (message) => this.#onMessage(record, message));
    child.once('exit', (code, signal) => this.#reap(record, code, signal));
    child.on('error', (error) => ctx.log.debug(`Worker (pid:${pid}) channel error: ${error.message}`));
    child.send(bootMessage(ctx, age, inherited));
  }

  #onMessage(record: WorkerRecord, message: WorkerMessage): void {
    record.lastBeat = Date.now();
    switch (message.type) {
      case 'kelpie:ready':
        this.#onReady(record);
        break;
      case 'kelpie:accept':
        if (message.hold !== undefined) record.hold = message.hold;
        this.#events.credits(record, message.count);
        break;
      case 'kelpie:returned':
        this.#events.returned(record, message.id);
        break;
      case 'kelpie:dup':
        this.#sendListener(record, message.listener);
        break;
      case 'kelpie:retiring':
        this.#onRetiring(record, message.reason);
        break;
      case 'kelpie:listened':
        this.listenInWorker?.reported(record.pid, message.states);
        break;
      case 'kelpie:heartbeat':
        if (!message.stats) break;
        // The last report of a worker may come in after its exit was handled: what it adds
        // to the report the totals already have goes to them.
        if (!this.#ctx.workers.has(record.pid)) {
          addStatusDelta(this.retiredStatuses, message.stats.statuses, record.stats?.statuses);
        }
        record.stats = message.stats;
        record.rss = message.stats.rss;
        break;
    }
  }

  /** A worker asked for its own descriptor of a listener (one per thread that accepts). */
  #sendListener(worker: WorkerRecord, index: number): void {
    const listeners = this.#ctx.listeners;
    const listener = Number.isInteger(index) && index >= 0 ? listeners[index] : undefined;
    if (!listener) {
      this.#badMessages.drop(worker, `kelpie:dup: no listener ${index} (${listeners.length} open)`);
      return;
    }
    if (worker.retiring) return;
    worker.child.send({ type: 'kelpie:listener', listener: index }, listener.handle as never, (error) => {
      if (error) this.#ctx.log.debug(`Could not send a listener to worker (pid:${worker.pid}): ${error.message}`);
    });
  }

  #onReady(worker: WorkerRecord): void {
    const ctx = this.#ctx;
    worker.ready = true;
    ctx.log.debug(`Worker ready (pid: ${worker.pid})`);
    if (!this.announcedReady && !worker.outdated) {
      const ready = [...ctx.workers.values()].filter((w) => w.ready).length;
      if (ready >= ctx.numWorkers) {
        this.announcedReady = true;
        ctx.log.info(`Ready: ${ready} worker${ready === 1 ? '' : 's'} serving`);
        runHookNow(ctx.hooks, 'whenReady', ctx.log, ctx.view());
      }
    }
    this.#retireOutdated();
    this.#events.ready(worker);
  }

  /**
   * `kelpie:retiring`: a worker stops on its own (an uncaught exception, --max-requests). It takes
   * no more connections, and its replacement starts now rather than when it exits, so capacity
   * does not drop while it drains.
   */
  #onRetiring(worker: WorkerRecord, reason: 'crash' | 'max_requests'): void {
    const ctx = this.#ctx;
    if (!ctx.running || worker.retiring || ctx.workers.get(worker.pid) !== worker) return;
    // From a worker, so untrusted: only the two reasons reach the restart counters.
    const crash = reason === 'crash';
    worker.retiring = true;
    worker.retireReason = crash ? 'crash' : 'max_requests';
    worker.credits = 0;
    const why = crash ? 'after an uncaught exception' : '(--max-requests)';
    const delayed = crash && this.#delayRestart(worker, 'crashed');
    // An outdated worker (HUP) is not replaced: the new generation takes its place.
    const now = !delayed && !worker.outdated ? ': starting its replacement' : '';
    ctx.log.info(`Worker (pid:${worker.pid}) is retiring ${why}${now}`);
    // The worker ends its own drain at the deadline; this holds even if its timer cannot fire,
    // or if the worker said it was leaving and stays (what it says is not trusted).
    worker.drainTimer = setTimeout(
      () => {
        worker.killedAfterDrain = true;
        worker.child.kill('SIGKILL');
      },
      drainDeadlineMs(crash, ctx.settings.gracefulTimeout),
    );
    this.manage();
  }

  /** Crash-loop backoff (pool-decisions.ts): false when the worker is replaced without a delay. */
  #delayRestart(worker: WorkerRecord, verb: 'exited' | 'crashed'): boolean {
    const lived = Date.now() - worker.startedAt;
    const backoff = crashLoopDelay(this.#ctx.settings, worker, lived);
    if (!backoff) return false;
    const { quickExits, delay } = backoff;
    this.#ctx.log.warning(
      `Worker (pid:${worker.pid}) ${verb} ${(lived / 1000).toFixed(1)} s after it started; its ${ordinal(quickExits)} quick exit in a row: restarting it in ${delay.toFixed(1)} s`,
    );
    const restart: DelayedRestart = {
      quickExits,
      timer: setTimeout(() => {
        this.#delayedRestarts.delete(restart);
        this.#dueQuickExits.push(restart.quickExits);
        this.manage();
      }, delay * 1000),
    };
    this.#delayedRestarts.add(restart);
    this.restartDelays++;
    return true;
  }

  #reap(worker: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
    const ctx = this.#ctx;
    ctx.workers.delete(worker.pid);
    clearTimeout(worker.drainTimer);
    this.listenInWorker?.exited(worker.pid);
    this.#events.exited(worker);
    addStatuses(this.retiredStatuses, worker.stats?.statuses);
    if (ctx.running) {
      const reason = restartReason(worker, code, signal);
      if (reason) this.restarts[reason] = (this.restarts[reason] ?? 0) + 1;
    }
    runHookNow(ctx.hooks, 'childExit', ctx.log, ctx.view(), { pid: worker.pid, age: worker.age, code, signal });
    const line = exitLogLine(worker, code, signal, ctx.phase === 'stopping');
    if (line) ctx.log[line.level](line.message);
    const failure = bootFailure(code);
    if (ctx.running && failure !== undefined) {
      // A reload (HUP, --reload) whose new code does not load: the previous generation still
      // serves, so keep it rather than stop the server.
      // Replaced already (a second HUP came while it booted) or part of an abandoned reload.
      if (worker.outdated || worker.generation === this.#abandonedGeneration) {
        this.manage();
        return;
      }
      if (!worker.outdated && this.#keepPreviousGeneration(worker.generation, code as number)) return;
      this.#events.halt(failure, code as number);
      return;
    }
    if (ctx.phase === 'stopping') {
      this.#events.exitedWhileStopping();
      return;
    }
    // Left without being asked (a crash, a signal, a timeout): restarted after a delay if it died young.
    if (ctx.running && !worker.retiring) this.#delayRestart(worker, 'exited');
    this.manage();
  }

  /**
   * After a new worker failed to boot during a reload: the outdated workers still serving become
   * the current generation again and the new ones still booting are sent away. False when no
   * outdated worker is left to keep.
   */
  #keepPreviousGeneration(failed: number, code: number): boolean {
    const ctx = this.#ctx;
    const previous = [...ctx.workers.values()].filter((w) => w.outdated && !w.retiring);
    if (!previous.length) return false;
    this.#abandonedGeneration = failed;
    // Workers spawned from now on (replacements) are a generation of their own again.
    this.#generation++;
    const reason = code === ExitCode.WORKER_BOOT_ERROR ? 'a new worker failed to boot' : 'the app failed to load';
    for (const worker of previous) worker.outdated = false;
    for (const worker of ctx.workers.values()) {
      if (!worker.outdated && !worker.retiring && !worker.ready && !previous.includes(worker)) {
        this.retire(worker, 'reload');
      }
    }
    const kept = [...ctx.workers.values()].filter((w) => !w.retiring).length;
    ctx.log.error(`Reload failed (${reason}); keeping the ${kept} running worker(s) of the previous generation`);
    if (kept < ctx.numWorkers) ctx.numWorkers = kept;
    this.manage();
    return true;
  }

  /** Stop both checks (the arbiter stops). */
  stopChecks(): void {
    clearInterval(this.#checkTimer);
    clearInterval(this.#memoryTimer);
  }

  /** HUP changed --timeout or switched --max-worker-memory on or off: the checks follow. */
  restartChecks(timeoutChanged: boolean, memoryChanged: boolean): void {
    if (timeoutChanged) {
      clearInterval(this.#checkTimer);
      this.startHeartbeatChecks();
    }
    if (memoryChanged) {
      clearInterval(this.#memoryTimer);
      this.#memoryTimer = undefined;
      this.startMemoryChecks();
    }
  }

  /** --timeout: look at the heartbeats a few times per timeout. */
  startHeartbeatChecks(): void {
    const timeout = this.#ctx.settings.timeout;
    if (timeout > 0) this.#checkTimer = setInterval(() => this.#murderWorkers(), heartbeatCheckInterval(timeout));
  }

  /** --max-worker-memory: workers report their RSS with each heartbeat; look once a second. */
  startMemoryChecks(): void {
    if (this.#ctx.settings.maxWorkerMemory > 0) this.#memoryTimer = setInterval(() => this.#checkMemory(), 1000);
  }

  /** Workers whose heartbeat stopped for longer than --timeout: SIGABRT, then SIGKILL on the next pass. */
  #murderWorkers(): void {
    const limit = this.#ctx.settings.timeout * 1000;
    const now = Date.now();
    for (const worker of this.#ctx.workers.values()) {
      const verdict = heartbeatVerdict(worker, now, limit);
      if (verdict === 'abort') {
        this.#ctx.log.critical(`WORKER TIMEOUT (pid:${worker.pid})`);
        worker.abortedAt = now;
        worker.child.kill('SIGABRT');
      } else if (verdict === 'kill') {
        worker.killedAfterTimeout = true;
        worker.child.kill('SIGKILL');
      }
    }
  }

  /** --max-worker-memory: a worker above the limit for 5 s in a row is replaced gracefully. */
  #checkMemory(): void {
    const ctx = this.#ctx;
    if (!ctx.running) return;
    const limit = ctx.settings.maxWorkerMemory * 1024 * 1024;
    const now = Date.now();
    for (const worker of ctx.workers.values()) {
      const verdict = memoryVerdict(worker, limit, now);
      worker.overMemorySince = verdict.overMemorySince;
      if (!verdict.replace) continue;
      ctx.log.warning(
        `Worker (pid:${worker.pid}) uses ${Math.round(worker.rss / 1048576)} MB, above --max-worker-memory ${ctx.settings.maxWorkerMemory} MB: replacing it`,
      );
      this.retire(worker, 'memory');
    }
    this.manage();
  }
}
