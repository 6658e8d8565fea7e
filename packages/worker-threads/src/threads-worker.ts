import { writeSync } from 'node:fs';
import { Worker as Thread } from 'node:worker_threads';
import {
  type ErrorCode,
  heartbeatInterval,
  type InheritedListener,
  KelpieError,
  REQUEST_STATS_LENGTH,
  RequestStats,
  rawResponse,
  Worker,
  type WorkerMeta,
} from '@kelpie/core';
import pkg from '../package.json' with { type: 'json' };
import { BOARD_CELLS } from './accept-policy.js';
import {
  BEAT,
  FLUSHED,
  type FromThread,
  SLOTS,
  STATE_LENGTH,
  slotIndex,
  type ThreadData,
  type ToThread,
} from './protocol.js';

/**
 * The threaded worker (`-k threads --threads N`), Gunicorn's gthread for Node: each worker
 * process runs N `worker_threads`, each with its own copy of the app and its own event loop, so
 * CPU-bound handlers run in parallel inside one process.
 *
 * Connections reach threads through the kernel: every thread accepts on its own descriptor of
 * the listening socket, which the arbiter sends on request (`channel.duplicateListener`). Threads
 * share the socket as worker processes do, and a thread busy in a handler is not accepting, so
 * new connections go to the others. This works on every Node version kelpie supports, costs
 * nothing per request, and survives terminating a thread: the thread's descriptor closes, the
 * others stay open (docs/sync-and-threads.md compares it with the alternatives).
 *
 * The main thread accepts nothing and runs no app code. It watches each thread's heartbeat; a
 * thread stuck past --timeout is terminated and replaced while the other threads serve on, and
 * its requests that had not sent headers yet get a 503.
 */

/**
 * Descriptors a thread listens on arrive as handles in this thread, which must keep them (closing
 * one would close a number the thread may still use, or one reused since): about 0.7 KB each.
 * A worker whose threads paused accepting this many times (accept-policy.ts), some 35 MB, is
 * recycled gracefully, so the memory they hold stays bounded.
 */
const MAX_KEPT_HANDLES = 50_000;

/**
 * A quick stop waits this long in all for the threads to write their access log lines before it
 * terminates them (close() is synchronous, and the process exits right after it). A thread that
 * is idle or between requests answers within a few milliseconds, even on a loaded machine; one
 * stuck in a long synchronous request cannot answer at all, and a quick stop must stay quick:
 * its last lines are lost. A batch already handed to a write() is finished by Node anyway.
 */
const QUICK_STOP_FLUSH_MS = 200;

const SERVICE_UNAVAILABLE = Buffer.from(
  rawResponse(503, 'Service Unavailable: the request handler did not finish within the worker timeout.\n'),
);

interface AppThread {
  /** 1-based position in the pool; a replacement keeps the index. */
  index: number;
  thread: Thread;
  state: Int32Array;
  /** Its requests in flight and by status, in shared memory. */
  stats: RequestStats;
  lastBeat: number;
  lastBeatAt: number;
  /** Accepting connections: from then on, an unexpected exit means a replacement. */
  serving: boolean;
  /** Terminated or drained on purpose: its exit is expected. */
  leaving: boolean;
  /** terminate() called: it runs no more code, and answers nothing. */
  terminated: boolean;
  exited: boolean;
}

export class ThreadsWorker extends Worker {
  static override meta: WorkerMeta = {
    name: 'threads',
    version: pkg.version,
    core: '^0.1.0',
    description: 'A pool of worker_threads per process, each running its own copy of the app (--threads N)',
  };

  readonly #threads = new Map<number, AppThread>();
  /** Finished responses of threads that have exited. */
  readonly #finished = new RequestStats();
  /** Every thread that has not exited, a replaced one included until its exit adds it to #finished. */
  readonly #live = new Set<AppThread>();
  #monitor: NodeJS.Timeout | undefined;
  #stopping = false;
  /** Descriptor handles kept for the threads (MAX_KEPT_HANDLES). */
  #handlesKept = 0;
  /** Which threads accept now and which have work (accept-policy.ts); a thread's cells are cleared when it exits. */
  #board: Int32Array | undefined;

  /** Start every thread; each loads its own copy of the app. Resolves when all have. */
  override async load(): Promise<void> {
    this.#monitor = setInterval(() => this.#check(), heartbeatInterval(this.settings.timeout));
    this.#monitor.unref();
    const count = this.settings.threads;
    this.#board = new Int32Array(new SharedArrayBuffer(count * BOARD_CELLS * 4));
    const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => this.#start(i + 1)));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) {
      for (const thread of this.#threads.values()) this.#terminate(thread);
      throw failed.reason;
    }
  }

  async serve(): Promise<void> {
    await Promise.all([...this.#threads.values()].map((thread) => this.#listen(thread)));
    this.log.info(`Serving with ${this.#threads.size} thread${this.#threads.size === 1 ? '' : 's'}`);
  }

  override reopenLogs(): void {
    for (const thread of this.#threads.values()) {
      if (!thread.exited) thread.thread.postMessage({ type: 'reopen' } satisfies ToThread);
    }
  }

  async drain(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#monitor);
    await Promise.all(
      [...this.#threads.values()].map(async (thread) => {
        thread.leaving = true;
        if (thread.exited) return;
        const drained = this.#expect(thread, 'drained').catch(() => undefined);
        thread.thread.postMessage({ type: 'drain' } satisfies ToThread);
        await drained;
      }),
    );
  }

  /** Each thread ran its own copy of the app's shutdown hook in drain(). */
  override async unload(): Promise<void> {}

  override close(): void {
    this.#stopping = true;
    clearInterval(this.#monitor);
    if (this.settings.accessLogfile) this.#flushAccessLogs();
    for (const thread of this.#threads.values()) this.#terminate(thread);
  }

  /**
   * Ask every running thread to write its access log lines synchronously (a terminated thread
   * gets no `exit` event to do it), and wait for their answers: QUICK_STOP_FLUSH_MS in all.
   */
  #flushAccessLogs(): void {
    const asked = [...this.#live].filter((record) => !record.exited && !record.terminated);
    for (const record of asked) {
      Atomics.store(record.state, FLUSHED, 0);
      record.thread.postMessage({ type: 'flush-logs' } satisfies ToThread);
    }
    const deadline = performance.now() + QUICK_STOP_FLUSH_MS;
    for (const record of asked) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      Atomics.wait(record.state, FLUSHED, 0, left);
    }
  }

  /** Start thread `index` and wait until its app is loaded. */
  async #start(index: number): Promise<AppThread> {
    const state = new Int32Array(new SharedArrayBuffer(STATE_LENGTH * 4));
    const stats = new RequestStats(new SharedArrayBuffer(REQUEST_STATS_LENGTH * 8));
    const data: ThreadData = {
      index,
      settings: this.settings,
      appModule: this.appModule,
      cwd: this.cwd,
      searchFrom: this.searchFrom,
      urls: this.listeners.map((listener) => listener.url),
      hooksFile: this.hooks.preRequest || this.hooks.postRequest ? this.configFile : undefined,
      state: state.buffer as SharedArrayBuffer,
      requests: this.requestCount.share(),
      maxRequests: this.maxRequests,
      stats: stats.values.buffer as SharedArrayBuffer,
      board: (this.#board as Int32Array).buffer as SharedArrayBuffer,
    };
    const thread = new Thread(new URL('./thread.js', import.meta.url), {
      workerData: data,
      name: `kelpie thread ${index}`,
    });
    const record: AppThread = {
      index,
      thread,
      state,
      stats,
      lastBeat: 0,
      lastBeatAt: Date.now(),
      serving: false,
      leaving: false,
      terminated: false,
      exited: false,
    };
    this.#threads.set(index, record);
    thread.on('message', (message: FromThread) => {
      if (message.type === 'max-requests') this.channel.maxRequestsReached();
      else if (message.type === 'dup') {
        if (++this.#handlesKept === MAX_KEPT_HANDLES) {
          this.log.warning(
            `The threads paused accepting ${MAX_KEPT_HANDLES} times, each pause keeping a descriptor handle: recycling this worker`,
          );
          this.channel.maxRequestsReached();
        }
        void this.channel.duplicateListener(message.listener).then((fd) => {
          if (!record.exited) thread.postMessage({ type: 'fd', id: message.id, fd } satisfies ToThread);
        });
      }
    });
    thread.on('error', (error) => {
      if (!record.leaving) this.log.error(`Uncaught exception in thread ${index} (pid: ${process.pid})`, error);
    });
    this.#live.add(record);
    thread.once('exit', (code) => {
      record.exited = true;
      // Not accepting: the others must not leave connections to it (unless a replacement has the cells already).
      if (this.#threads.get(index) === record) this.#board?.fill(0, (index - 1) * BOARD_CELLS, index * BOARD_CELLS);
      this.#finished.add(stats, false);
      this.#live.delete(record);
      if (record.leaving || this.#stopping || !record.serving) return;
      this.log.error(`Thread ${index} (pid: ${process.pid}) exited with code ${code}; starting another`);
      void this.#replace(record);
    });
    const loaded = await this.#expect(record, 'loaded');
    if (loaded.type === 'load-error') {
      record.leaving = true;
      const cause = loaded.stack ? Object.assign(new Error(loaded.message), { stack: loaded.stack }) : undefined;
      throw new KelpieError(loaded.code as ErrorCode, loaded.message, { cause });
    }
    return record;
  }

  /** Give the thread its own descriptor of every listener, and wait until it accepts on them. */
  async #listen(record: AppThread): Promise<void> {
    const fds = await Promise.all(this.listeners.map((_, i) => this.channel.duplicateListener(i)));
    const listeners: InheritedListener[] = this.listeners.map((listener, i) => ({ ...listener, fd: fds[i] as number }));
    const reply = this.#expect(record, 'listening');
    record.thread.postMessage({ type: 'listen', listeners } satisfies ToThread);
    const answer = await reply;
    if (answer.type === 'listen-error') throw new Error(`Thread ${record.index} could not listen: ${answer.message}`);
    record.serving = true;
  }

  /**
   * Resolve with the thread's next message of `type` (or the matching error message); reject if
   * the thread exits first.
   */
  #expect(record: AppThread, type: 'loaded' | 'listening' | 'drained'): Promise<FromThread> {
    const errors: Record<string, string> = { loaded: 'load-error', listening: 'listen-error' };
    return new Promise((resolve, reject) => {
      if (record.exited) return reject(new Error(`thread ${record.index} has exited`));
      const onMessage = (message: FromThread) => {
        if (message.type !== type && message.type !== errors[type]) return;
        cleanup();
        resolve(message);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(
          new KelpieError(
            'KELPIE_ERR_APP_IMPORT',
            `Thread ${record.index} exited with code ${code} before it was ${type === 'loaded' ? 'loaded' : type}`,
          ),
        );
      };
      const cleanup = () => {
        record.thread.off('message', onMessage);
        record.thread.off('exit', onExit);
      };
      record.thread.on('message', onMessage);
      record.thread.once('exit', onExit);
    });
  }

  /** The process's request statistics: its threads' and those of threads that are gone. */
  override requestStats(): RequestStats {
    const sum = new RequestStats();
    sum.add(this.#finished);
    // The live set, not the pool: a replacement takes its slot before the old thread has exited.
    for (const record of this.#live) sum.add(record.stats);
    return sum;
  }

  /** Heartbeats: a thread whose counter has not moved for --timeout seconds is stuck. */
  #check(): void {
    const limit = this.settings.timeout * 1000;
    if (limit <= 0 || this.#stopping) return;
    const now = Date.now();
    for (const record of this.#threads.values()) {
      if (record.leaving) continue;
      const beat = Atomics.load(record.state, BEAT);
      if (beat !== record.lastBeat) {
        record.lastBeat = beat;
        record.lastBeatAt = now;
        continue;
      }
      if (now - record.lastBeatAt <= limit) continue;
      if (!record.serving) {
        // Stuck while loading the app: its start fails, and with it this worker's boot.
        this.log.critical(
          `WORKER TIMEOUT (pid:${process.pid} thread:${record.index}): thread ${record.index} did not finish loading the app within ${this.settings.timeout}s`,
        );
        this.#terminate(record);
        continue;
      }
      this.log.critical(
        `WORKER TIMEOUT (pid:${process.pid} thread:${record.index}): thread ${record.index} was stuck for more than ${this.settings.timeout}s; terminating it and starting another`,
      );
      this.#answerStuck(record);
      void this.#replace(record);
    }
  }

  /**
   * The thread is stuck and about to be terminated: its requests that have not sent headers get a
   * 503, written straight to their sockets (descriptors are shared by the whole process). The
   * thread is not running its event loop, so the sockets cannot close under us.
   */
  #answerStuck(record: AppThread): void {
    let answered = 0;
    for (let slot = 0; slot < SLOTS; slot++) {
      const value = Atomics.load(record.state, slotIndex(slot));
      if (value <= 0) continue;
      try {
        writeSync(value - 1, SERVICE_UNAVAILABLE);
        answered++;
      } catch {
        // The client is gone, or its socket cannot take even this much.
      }
    }
    if (answered > 0) this.log.warning(`Answered ${answered} request(s) of thread ${record.index} with 503`);
  }

  #terminate(record: AppThread): void {
    record.leaving = true;
    record.terminated = true;
    void record.thread.terminate();
  }

  /** Terminate a thread (if still running) and start another in its place. */
  async #replace(record: AppThread): Promise<void> {
    this.#terminate(record);
    if (this.#stopping) return;
    try {
      const next = await this.#start(record.index);
      if (this.#stopping) return this.#terminate(next);
      await this.#listen(next);
      this.log.info(`Thread ${record.index} replaced (pid: ${process.pid})`);
    } catch (error) {
      // The app no longer loads (its files changed on disk?): let the arbiter start a fresh process.
      this.log.error(`Could not replace thread ${record.index}; stopping this worker`, error);
      process.kill(process.pid, 'SIGTERM');
    }
  }
}
