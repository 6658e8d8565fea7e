import type { Socket } from 'node:net';
import { type AcceptGate, watchCountedConnections } from './accept-gate.js';
import { UNIX_PEER } from './forwarded.js';
import { isUnixPeer } from './http-socket.js';

/**
 * The connections HttpServers tracks, and what each one costs while it stays open. An idle
 * keep-alive connection should cost no more than under Node's own HTTP server: each listener and
 * each property kelpie adds to a socket is paid on every connection. So a connection gets one
 * `close` listener of kelpie's, the same function for all (no closure, no `once` wrapper per
 * connection), which takes it out of every set here and, when the accept gate counted it, tells
 * the gate; and nothing is stored on the socket (a unix-socket peer's mark aside).
 */

type WithParent = Socket & { _parent?: Socket | null };

export class OpenConnections {
  /** Open connections, tracked per connection rather than per request to keep requests cheap. */
  readonly sockets = new Set<Socket>();
  /** Connections handed to the upgrade listener (WebSockets): a subset of `sockets`. */
  readonly upgraded = new Set<Socket>();
  /**
   * Connections accepted but not yet HTTP: in the TLS handshake, before their PROXY header, or
   * counted by the accept gate and not yet seen by the server's own 'connection' listeners.
   * Tracked only while they are neither, so that a drain waits for them as for requests.
   */
  readonly arriving = new Set<Socket>();
  /** Every connection's `close` listener ('close' is emitted once: `on`, not `once`). */
  readonly #closed: (this: Socket) => void;
  /** The listener of a connection the accept gate counted. */
  readonly #closedCounted: (this: Socket) => void;
  /** Tells the gate (and the class's accept policy) a connection it counted closed. */
  readonly #gateClosed: (this: Socket) => void;

  /**
   * `changed`: after a connection closed. `countedClosed`: after a connection the accept gate
   * counted closed, once the gate knows (a worker class's accept policy, which saw it in the
   * gate's `onAccept`; called from the same listener, so the policy adds none of its own).
   */
  constructor(gate: AcceptGate, changed: () => void, countedClosed?: (socket: Socket) => void) {
    const { sockets, upgraded, arriving } = this;
    function closed(this: Socket): void {
      sockets.delete(this);
      upgraded.delete(this);
      arriving.delete(this);
      changed();
    }
    const toldGate = watchCountedConnections(gate, (raw) => this.arrive(raw, true));
    const gateClosed = countedClosed
      ? function (this: Socket): void {
          toldGate();
          countedClosed(this);
        }
      : toldGate;
    this.#closed = closed;
    this.#gateClosed = gateClosed;
    this.#closedCounted = function (this: Socket): void {
      closed.call(this);
      gateClosed.call(this);
    };
  }

  /** An HTTP connection (a TLS one once its handshake is done): tracked until it closes. */
  track(socket: Socket): void {
    this.sockets.add(socket);
    const raw = (socket as WithParent)._parent ?? socket;
    // Watched since it arrived (the gate counted it, or its PROXY header was read); a TLS socket
    // closes apart from the TCP socket under it.
    const watched = this.arriving.size > 0 && this.arriving.delete(raw) && raw === socket;
    if (!watched) socket.on('close', this.#closed);
    if (isUnixPeer(socket)) (socket as Socket & { [UNIX_PEER]?: boolean })[UNIX_PEER] = true;
  }

  /**
   * A connection accepted that is not HTTP yet (TLS handshake, PROXY header, or counted by the
   * gate before the server's 'connection' listeners run): a drain waits for it. `counted`: the
   * accept gate counted it, and is told when it closes.
   */
  arrive(raw: Socket, counted = false): void {
    if (this.arriving.has(raw)) {
      // Counted after it arrived another way (no path of HttpServers' does this).
      if (counted) raw.on('close', this.#gateClosed);
      return;
    }
    // The gate's count goes down when it closes, however soon.
    if (!counted && raw.destroyed) return;
    this.arriving.add(raw);
    raw.on('close', counted ? this.#closedCounted : this.#closed);
  }
}
