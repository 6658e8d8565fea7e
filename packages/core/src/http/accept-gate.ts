import { Server as NetServer, type Socket } from 'node:net';
import { type Logger, LogThrottle } from '../observability/logger.js';
import { adoptDuplicate } from './duplicates.js';

/**
 * When a worker (or a thread of one) takes connections from the listening sockets it shares with
 * the others, and when it leaves them in the backlog for someone else.
 *
 * Node has no way to stop accepting on a listening handle and start again: libuv accepts every
 * pending connection whenever the socket is readable, and `uv_read_stop` does nothing on a
 * listening stream. Node's own `server.maxConnections` accepts a connection over the limit and
 * closes it, so a full worker resets clients that another worker, or the backlog, could have
 * kept. So the gate closes this process's (or thread's) own descriptor of each listening socket:
 * the arbiter and the other workers keep theirs, the socket stays open and listening, and new
 * connections queue in its backlog or go to a worker that still listens. To open again, the gate
 * listens on a fresh descriptor of the same socket from the arbiter (`channel.duplicateListener`),
 * asked for the moment the gate closes, so it is usually there before it is needed. A door on a
 * socket of its own (--reuse-port) is closed and bound again instead: the kernel stops hashing
 * connections to it while it is closed, and those it had queued are reset, as when a worker stops.
 *
 * Without `duplicateListener` (a class that does not pass it) the gate never closes, and Node's
 * `maxConnections` (set by HttpServers) is what bounds connections, accepting and closing.
 *
 * Spreading a burst (`spread`, SPEC.md 3.3): keep-alive connections opened together (a client's
 * or a proxy's pool) all arrive in the backlog at once; whichever worker the scheduler runs first
 * accepts one per event-loop turn while the others wait for a CPU, and may take nearly all of
 * them, and with them that share of the load for as long as they live. So a worker whose open
 * connections grew by SPREAD_BURST within SPREAD_WINDOW_MS holds the gate for SPREAD_HOLD_MS: its
 * own descriptor closes, its event loop can sleep, and the rest of the burst is left to the
 * others. Growth, not accepts: connections that close as fast as they come (no keep-alive) never
 * trigger it.
 */

/** Open connections gained within SPREAD_WINDOW_MS that make a burst. */
export const SPREAD_BURST = 4;
export const SPREAD_WINDOW_MS = 5;
/** How long a worker leaves a burst to the others. */
export const SPREAD_HOLD_MS = 2;

const netServerClose = NetServer.prototype.close;

/** Spreading's bookkeeping: whether a worker's open connections grew by SPREAD_BURST within SPREAD_WINDOW_MS. */
export class BurstWindow {
  #start = Number.NEGATIVE_INFINITY;
  /** Open connections when the window started. */
  #base = 0;

  /** A connection was accepted at `now` (ms); `open` counts it. True when it completes a burst (a new window starts). */
  accepted(open: number, now: number): boolean {
    if (now - this.#start > SPREAD_WINDOW_MS) {
      this.#start = now;
      this.#base = open - 1;
    }
    if (open - this.#base < SPREAD_BURST) return false;
    this.#start = Number.NEGATIVE_INFINITY;
    return true;
  }
}

/** Where a door listens: a descriptor of shared listener `index`, or a socket of its own. */
export type DoorSource = { kind: 'shared'; index: number } | { kind: 'own'; host: string; port: number };

interface Door {
  server: NetServer;
  source: DoorSource;
  open: boolean;
  /** A descriptor to listen on next, asked for when the door closed. */
  spare: Promise<number> | undefined;
  /** Listening again is under way. */
  opening: boolean;
}

export interface AcceptGateOptions {
  /** --worker-connections: at this many open connections the gate closes (0: no limit). */
  limit: number;
  backlog: number;
  log: Logger;
  /** A fresh descriptor of listener `index` (WorkerChannel.duplicateListener). Without it the gate never closes. */
  duplicateListener?: (index: number) => Promise<number>;
  /**
   * Leave the rest of a burst of new connections to the other workers sharing the sockets (see
   * above). Only where every door is a shared descriptor: a --reuse-port socket of the worker's own
   * would reset what it had queued when it closes.
   */
  spread?: boolean;
  /** Each connection accepted through the gate, once counted; a policy may `hold()` the gate here. */
  onAccept?: (socket: Socket, gate: AcceptGate) => void;
  /**
   * The gate opened or closed. It says open as the last hold is released, before the doors listen
   * again (a descriptor may still be on its way): connections left in the backlog meanwhile are
   * taken as soon as they do.
   */
  onChange?: (open: boolean) => void;
}

/**
 * For HttpServers, which already listens for the close of every connection: the gate stops adding
 * a `close` listener of its own and calls `watch` on each connection it counts instead; the owner
 * calls the function returned once that connection closes. One listener per connection instead of
 * two: each listener past Node's own costs memory on every idle keep-alive connection. Internal:
 * not exported from the package.
 */
export let watchCountedConnections: (gate: AcceptGate, watch: (socket: Socket) => void) => () => void;

export class AcceptGate {
  readonly #options: AcceptGateOptions;
  readonly #doors: Door[] = [];
  /** Why the gate is closed: 'full', or a worker class's own reasons. Open when empty. */
  readonly #holds = new Set<string>();
  #connections = 0;
  #ended = false;
  readonly #burst = new BurstWindow();
  /** The 'limit reached' warning: at most once a second. */
  readonly #fullLog = new LogThrottle(1000);
  /** One for every connection: a closure per connection would cost memory on each. */
  readonly #onClose: () => void;
  /** Watches for counted connections' close instead of the gate (watchCountedConnections). */
  #watch: ((socket: Socket) => void) | undefined;

  static {
    watchCountedConnections = (gate, watch) => {
      gate.#watch = watch;
      return gate.#onClose;
    };
  }

  constructor(options: AcceptGateOptions) {
    this.#options = options;
    this.#onClose = () => {
      this.#connections--;
      if (this.#connections < options.limit) this.release('full');
    };
  }

  /** Connections accepted through the gate and still open. */
  get connections(): number {
    return this.#connections;
  }

  /** Nothing holds the gate: its doors listen, or will as soon as they have a descriptor. */
  get open(): boolean {
    return this.#holds.size === 0 && !this.#ended;
  }

  /** Whether the gate can close at all (a way to listen again is known). */
  get pausable(): boolean {
    return this.#options.duplicateListener !== undefined;
  }

  /** A server now listening on `source`; the gate counts its connections and may close it. */
  add(server: NetServer, source: DoorSource): void {
    const door: Door = { server, source, open: true, spare: undefined, opening: false };
    this.#doors.push(door);
    // First, so that the connection is counted before anything else sees it (HttpServers' own
    // 'connection' listener finds it watched already: watchCountedConnections).
    server.prependListener('connection', (socket: Socket) => this.#accepted(socket));
    if (this.#holds.size > 0) this.#shut(door);
  }

  /** Stop using a door (it failed to listen). */
  remove(server: NetServer): void {
    const at = this.#doors.findIndex((door) => door.server === server);
    if (at >= 0) this.#doors.splice(at, 1);
  }

  /** Close the gate for `reason` (synchronously: libuv accepts nothing more in this turn). */
  hold(reason: string): void {
    if (this.#ended || !this.pausable || this.#holds.has(reason)) return;
    const wasOpen = this.#holds.size === 0;
    this.#holds.add(reason);
    if (!wasOpen) return;
    for (const door of this.#doors) this.#shut(door);
    this.#options.onChange?.(false);
  }

  /** Drop `reason`; with no reason left, every door listens again. */
  release(reason: string): void {
    if (!this.#holds.delete(reason) || this.#holds.size > 0 || this.#ended) return;
    this.#options.onChange?.(true);
    for (const door of this.#doors) void this.#reopen(door);
  }

  /** For good (drain, close): nothing reopens; spare descriptors are given back. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#holds.clear();
    this.#options.onChange?.(false);
    for (const door of this.#doors) {
      const spare = door.spare;
      door.spare = undefined;
      if (spare) void spare.then(disposeDescriptor);
    }
  }

  #accepted(socket: Socket): void {
    this.#connections++;
    // 'close' is emitted once: `on`, not `once`, which would wrap the listener for every connection.
    if (this.#watch) this.#watch(socket);
    else socket.on('close', this.#onClose);
    const { limit, log } = this.#options;
    if (limit > 0 && this.#connections >= limit && this.pausable && !this.#holds.has('full')) {
      this.hold('full');
      if (this.#fullLog.take() !== undefined) {
        log.warning(
          `Worker connection limit (${limit}) reached: stopped accepting; new connections wait in the backlog or go to another worker`,
        );
      }
    }
    this.#options.onAccept?.(socket, this);
    if (this.#options.spread) this.#spread();
  }

  /** Hold the gate for SPREAD_HOLD_MS when this worker's open connections grew by a burst. */
  #spread(): void {
    if (!this.#burst.accepted(this.#connections, performance.now())) return;
    if (this.#holds.has('burst') || !this.pausable || this.#doors.some((door) => door.source.kind === 'own')) return;
    this.hold('burst');
    setTimeout(() => this.release('burst'), SPREAD_HOLD_MS).unref();
  }

  #shut(door: Door): void {
    if (!door.open) return;
    door.open = false;
    // net.Server's close: stop listening without http.Server's close of idle connections.
    netServerClose.call(door.server);
    const { duplicateListener } = this.#options;
    if (door.source.kind === 'shared' && !door.spare && duplicateListener) {
      door.spare = duplicateListener(door.source.index);
    }
  }

  async #reopen(door: Door): Promise<void> {
    if (door.open || door.opening) return;
    door.opening = true;
    try {
      if (door.source.kind === 'own') {
        await listenOn(door.server, door.source, this.#options.backlog);
      } else {
        const { duplicateListener } = this.#options;
        const spare = door.spare ?? duplicateListener?.(door.source.index);
        door.spare = undefined;
        if (!spare) return;
        const fd = await spare;
        if (this.#ended || this.#holds.size > 0) {
          // Closed again meanwhile: keep it for the next time.
          if (this.#ended) disposeDescriptor(fd);
          else door.spare = Promise.resolve(fd);
          return;
        }
        await listenOnDescriptor(door.server, fd, this.#options.backlog);
      }
      door.open = true;
      if (this.#ended || this.#holds.size > 0) this.#shut(door);
    } catch (error) {
      this.#options.log.warning(
        `Could not listen again after pausing (${(error as Error).message}); this ${door.source.kind === 'own' ? '--reuse-port socket' : 'listener'} stays closed in this worker`,
      );
      this.remove(door.server);
    } finally {
      door.opening = false;
    }
  }
}

/** Listen on a descriptor from duplicateListener: on the received handle itself when this thread has it. */
function listenOnDescriptor(server: NetServer, fd: number, backlog: number): Promise<void> {
  return listening(server, () => {
    const handle = adoptDuplicate(fd);
    const internal = server as NetServer & { _handle?: object | null; _listen2?: (...args: unknown[]) => void };
    if (handle && typeof internal._listen2 === 'function') {
      // The handle becomes the server's and closes with it: never two handles on one descriptor
      // (node:net's listen(handle) does this for TCP only; this covers unix sockets too).
      internal._handle = handle;
      internal._listen2(null, -1, -1, backlog);
    } else {
      server.listen({ fd }, backlog);
    }
  });
}

function listenOn(server: NetServer, source: { host: string; port: number }, backlog: number): Promise<void> {
  return listening(server, () => server.listen({ host: source.host, port: source.port, reusePort: true }, backlog));
}

/** Run `start` and resolve on the server's 'listening', reject on its 'error'. */
function listening(server: NetServer, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      server.off('listening', done);
      reject(error);
    };
    const done = () => {
      server.off('error', fail);
      resolve();
    };
    server.once('error', fail);
    server.once('listening', done);
    start();
  });
}

/**
 * A spare descriptor that will not be used: closed with its handle when this thread received it.
 * In a worker thread the handle belongs to the main thread, which never closes it (closing the
 * number here would leave that handle on a descriptor that may be reused): it stays open, as
 * every descriptor given to a thread does, until the process exits.
 */
function disposeDescriptor(fd: number): void {
  (adoptDuplicate(fd) as { close?: () => void } | undefined)?.close?.();
}
