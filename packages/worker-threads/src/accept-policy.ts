import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AcceptGate } from '@kelpie/core';

/**
 * A connection goes to a thread that can serve it now.
 *
 * Every thread accepts on its own descriptor of the shared socket, and libuv accepts every
 * pending connection at once: a thread woken for two connections takes both, then runs the first
 * request's handler; if that handler burns CPU, the second connection waits for it while another
 * thread idles. So a thread that has work (a connection whose first request has not started yet,
 * or a request in progress) stops accepting the moment it takes a connection while another thread
 * is idle and accepting, and accepts again once it has no work left. The rest of that burst stays
 * in the backlog and goes to the idle thread. When no thread is idle, nobody stops: connections go
 * to whichever thread accepts, as before.
 *
 * Stopping costs something: a fresh descriptor to listen on again, which comes from the arbiter
 * through the main thread, and the main thread keeps the handle it received it with for the life
 * of the process (a second handle on one descriptor must never be closed). So a thread stops only
 * while its handlers block its event loop: until it has seen it, and again from the first request
 * whose synchronous part kept the loop busy for more than BLOCKING_MS, until BRIEF_STREAK requests
 * in a row have not. A thread whose handlers return to the loop at once (I/O-bound apps) can serve
 * a second connection right away, and never stops.
 *
 * A connection is fresh until its first request starts or it closes: kept in a set meanwhile,
 * nothing stored on the socket, and its close heard from the one `close` listener HttpServers
 * puts on every connection (`onClose`), none of this policy's own.
 *
 * Threads see each other through the board, shared memory with two Int32 cells per thread:
 * [accepting, work]. A thread writes its own cells and reads the others'; with sequentially
 * consistent Atomics two threads taking connections at once cannot both see the other idle, so
 * at least one of them keeps accepting.
 */

/** Int32 cells per thread on the board. */
export const BOARD_CELLS = 2;
const ACCEPTING = 0;
const WORK = 1;

/** The hold reason this policy puts on the gate. */
const BUSY = 'busy';
/** A request whose synchronous part kept the event loop busy this long (ms) blocks. */
const BLOCKING_MS = 10;
/** Requests in a row that did not block before a thread stops expecting its handlers to. */
const BRIEF_STREAK = 16;

type WithParent = Socket & { _parent?: Socket | null };
const DONE = Symbol('kelpie.request-done');
type Response = ServerResponse & { [DONE]?: () => void };

export class AcceptPolicy {
  readonly #board: Int32Array;
  /** This thread's first cell. */
  readonly #at: number;
  #work = 0;
  /** Connections accepted whose first request has not started: each counts as work. */
  readonly #fresh = new Set<Socket>();
  #gate: AcceptGate | undefined;
  /** Whether this thread's handlers block its event loop (assumed until seen otherwise). */
  #blocking = true;
  #brief = 0;

  /** `index`: this thread's 0-based position on the board. */
  constructor(board: SharedArrayBuffer, index: number) {
    this.#board = new Int32Array(board);
    this.#at = index * BOARD_CELLS;
  }

  /** Whether this thread listens now (the gate opened or closed, or the thread started or stopped). */
  accepting(on: boolean): void {
    Atomics.store(this.#board, this.#at + ACCEPTING, on ? 1 : 0);
  }

  /** A connection this thread accepted: work until its first request starts or it closes. */
  onAccept = (socket: Socket, gate: AcceptGate): void => {
    this.#gate = gate;
    this.#fresh.add(socket);
    this.#add(1);
    if (this.#blocking && this.#otherIdleThread()) gate.hold(BUSY);
  };

  /** A connection the gate counted closed (HttpServers' `accept.onClose`): no more work if it was fresh. */
  onClose = (socket: Socket): void => {
    this.#settle(socket);
  };

  /**
   * A request starts (called from the thread's handler): work until the app ends its response
   * (`ending()`, called before the last bytes are written, so a client that sends its next request
   * the moment it has the answer finds this thread idle), or the response finishes or is abandoned.
   */
  onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#add(1);
    // The event loop gets to the check phase once the handler's synchronous part is done.
    const start = performance.now();
    setImmediate(() => this.#observe(performance.now() - start));
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.#add(-1);
    };
    (res as Response)[DONE] = finish;
    res.once('finish', finish);
    res.once('close', finish);
    if (this.#fresh.size === 0) return;
    // The TLS socket's _parent is the TCP socket the gate counted.
    const socket = req.socket as WithParent | undefined;
    if (socket && !this.#settle(socket) && socket._parent) this.#settle(socket._parent);
  }

  /** The app calls `end()` on a response of this thread (HTTP/1; the thread's ServerResponse class calls this). */
  ending(res: ServerResponse): void {
    (res as Response)[DONE]?.();
  }

  #observe(ms: number): void {
    if (ms > BLOCKING_MS) {
      this.#blocking = true;
      this.#brief = 0;
    } else if (++this.#brief >= BRIEF_STREAK) {
      this.#blocking = false;
    }
  }

  /** The connection's first request started, or it closed: whether it was fresh until now. */
  #settle(socket: Socket): boolean {
    if (!this.#fresh.delete(socket)) return false;
    this.#add(-1);
    return true;
  }

  #add(delta: number): void {
    this.#work += delta;
    Atomics.store(this.#board, this.#at + WORK, this.#work);
    if (this.#work === 0) this.#gate?.release(BUSY);
  }

  #otherIdleThread(): boolean {
    const board = this.#board;
    for (let at = 0; at < board.length; at += BOARD_CELLS) {
      if (at === this.#at) continue;
      if (Atomics.load(board, at + ACCEPTING) === 1 && Atomics.load(board, at + WORK) === 0) return true;
    }
    return false;
  }
}
