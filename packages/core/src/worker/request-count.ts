import type { Settings } from '../config/settings.js';

/**
 * The requests a worker process has started, against its --max-requests share (SPEC.md 2.13):
 * the one count every worker class goes through, `Worker.countRequest()` in the worker's own
 * thread. A class that serves in other threads moves the count to shared memory (`share()`), and
 * each thread counts into it with a `RequestCount` of its own over that memory: the process's
 * count stays one number, whichever thread runs a request, and the request that reaches the share
 * is seen once.
 */

/** A worker's share: --max-requests plus a random 0..--max-requests-jitter; 0 is no limit. */
export function maxRequestsShare(settings: Pick<Settings, 'maxRequests' | 'maxRequestsJitter'>): number {
  const { maxRequests, maxRequestsJitter } = settings;
  return maxRequests > 0 ? maxRequests + Math.floor(Math.random() * (maxRequestsJitter + 1)) : 0;
}

export class RequestCount {
  /** The share this count is held against; 0 is no limit. */
  readonly limit: number;
  readonly #onLimit: () => void;
  /** The count while it is this thread's alone: a number, which never wraps. */
  #local = 0;
  /** The count once shared: an Int32 in shared memory, counted with Atomics. */
  #shared: Int32Array | undefined;

  /**
   * `onLimit` runs once, with the request that reaches `limit`. `shared`: count into this memory
   * (from another thread's `share()`) instead of a number of this thread's own.
   */
  constructor(limit: number, onLimit: () => void, shared?: SharedArrayBuffer) {
    this.limit = limit;
    this.#onLimit = onLimit;
    if (shared) this.#shared = new Int32Array(shared, 0, 1);
  }

  /** Count a request that starts now. */
  add(): void {
    const count = this.#shared ? Atomics.add(this.#shared, 0, 1) + 1 : ++this.#local;
    if (count === this.limit) this.#onLimit();
  }

  /** Requests counted so far, by every thread counting into the same memory. */
  get value(): number {
    return this.#shared ? Atomics.load(this.#shared, 0) : this.#local;
  }

  /** For classes that keep the count themselves (`Worker.requests` assigned). */
  set value(count: number) {
    if (this.#shared) Atomics.store(this.#shared, 0, count);
    else this.#local = count;
  }

  /** Move the count to shared memory (once; the count so far goes with it) and return that memory. */
  share(): SharedArrayBuffer {
    if (!this.#shared) {
      this.#shared = new Int32Array(new SharedArrayBuffer(4));
      this.#shared[0] = this.#local;
    }
    return this.#shared.buffer as SharedArrayBuffer;
  }
}
