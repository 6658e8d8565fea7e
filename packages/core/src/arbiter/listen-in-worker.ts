import type { Listener } from './listeners.js';

/**
 * listen(2) by the first worker (SPEC.md 3.1 step 4). The sockets the arbiter bound and that are
 * not listening yet go to the first worker it spawns a second time, as spare descriptors after its
 * own; that worker listens on each spare and closes it before loading anything
 * (worker/listen-spares.ts), and reports `kelpie:listened`. `states` resolves with that report,
 * or with undefined once the worker could not be spawned or exited first: the arbiter then
 * listens through a helper process instead (listeners.ts).
 */
export class ListenInWorker {
  readonly listeners: readonly Listener[];
  readonly states: Promise<string[] | undefined>;
  #resolve!: (states: string[] | undefined) => void;
  #claimed = false;
  #pid: number | undefined;

  constructor(listeners: readonly Listener[]) {
    this.listeners = listeners;
    this.states = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** The spares for the worker about to be spawned: the first one's only. */
  claim(): readonly Listener[] | undefined {
    if (this.#claimed) return undefined;
    this.#claimed = true;
    return this.listeners;
  }

  /** The worker that took the spares was spawned (pid undefined: it could not be). */
  spawned(pid: number | undefined): void {
    if (pid === undefined) this.#resolve(undefined);
    else this.#pid = pid;
  }

  /** A worker's `kelpie:listened`: taken from the one with the spares, with a state for each. */
  reported(pid: number, states: string[]): void {
    if (pid !== this.#pid) return;
    this.#resolve(states.length === this.listeners.length ? states : undefined);
  }

  /** A worker exited: if it had the spares and has not reported, the helper listens instead. */
  exited(pid: number): void {
    if (pid === this.#pid) this.#resolve(undefined);
  }
}
