import { Socket } from 'node:net';
import type { InheritedListener } from '../ipc/protocol.js';
import { send } from './channel.js';

/**
 * A connection the arbiter sent to hold (`accept = 'arbiter'` classes, SPEC.md 2.11): sent while
 * this worker serves another, because no worker was idle. It stays a raw handle, never read
 * from, until the worker class starts it (`start()`, which hands it to `connection()`) or gives
 * it back (`release()`: this process's descriptor is closed, and the arbiter hands its own to
 * another worker). The arbiter's `kelpie:release` gives back every one not started yet.
 *
 * This module is the one list of them, oldest first: a class that holds does not keep its own
 * (`HeldConnection.startOldest()` when it is free, `HeldConnection.releaseAll()` when it stops).
 */

export interface RawHandle {
  close(): void;
}

/** Held connections not started or given back yet, in the order they came (a Set keeps it). */
const holding = new Set<HeldConnection>();

export class HeldConnection {
  readonly listener: InheritedListener;
  readonly #handle: RawHandle;
  readonly #id: number;
  readonly #take: (socket: Socket) => void;

  constructor(listener: InheritedListener, handle: RawHandle, id: number, take: (socket: Socket) => void) {
    this.listener = listener;
    this.#handle = handle;
    this.#id = id;
    this.#take = take;
    holding.add(this);
  }

  /** Start the oldest held connection not started nor given back yet. False when there is none. */
  static startOldest(): boolean {
    for (const held of holding) return held.start();
    return false;
  }

  /** Give back every held connection not started yet (stopping, or the arbiter's `kelpie:release`). */
  static releaseAll(): void {
    for (const held of holding) held.release();
  }

  /** Not started nor given back yet. */
  get held(): boolean {
    return holding.has(this);
  }

  /** Serve it now (the class's `connection()` gets it). False if it was given back already. */
  start(): boolean {
    if (!holding.delete(this)) return false;
    this.#take(new Socket({ handle: this.#handle, readable: true, writable: true } as never));
    return true;
  }

  /** Give it back unread: another worker serves it (or, when the server stops, the arbiter closes it). */
  release(): void {
    if (holding.delete(this)) giveBack(this.#handle, this.#id);
  }
}

/** Close this process's descriptor of held connection `id` (the arbiter's keeps it open) and say so. */
export function giveBack(handle: RawHandle, id: number): void {
  handle.close();
  send({ type: 'kelpie:returned', id });
}
