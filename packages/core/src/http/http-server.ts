import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Http2Session } from 'node:http2';
import { createServer as createNetServer, Server as NetServer, type Socket } from 'node:net';
import type { AppWebSockets, RequestListener, UpgradeListener } from '../app/app.js';
import type { Settings } from '../config/settings.js';
import type { InheritedListener } from '../ipc/protocol.js';
import type { ReadAhead } from '../ipc/read-ahead.js';
import type { Logger } from '../observability/logger.js';
import { AcceptGate, type AcceptGateOptions } from './accept-gate.js';
import { createConfiguredServer, listenerIsTls } from './create-server.js';
import { guardListener } from './guard-listener.js';
import type { HttpSocket } from './http-socket.js';
import { sweepIdleConnections } from './idle-sweep.js';
import { OpenConnections } from './open-connections.js';
import { closeAppServer, ownServer } from './own-servers.js';
import { applyProxyHeader, inheritProxyHeader } from './proxy-header.js';
import type { proxyHeaderReader } from './proxy-protocol.js';
import { checkedUpgrade } from './request-limits.js';
import { watchSendProgress } from './send-timeout.js';
import { acceptErrorLogger, requestObservers, type ServingFeatures, servingFeatures } from './serving-features.js';
import { refusedUpgrades } from './upgrade-refusal.js';
import { announceClose, closeWebSocket } from './websocket-shutdown.js';

/**
 * HttpServers: the HTTP serving every worker class shares. Per inherited listener a configured
 * server (create-server.ts), listening on the inherited socket (or fed connections the arbiter
 * accepted, or through a PROXY-header or --reuse-port front); connections tracked for the accept
 * gate, --send-timeout and the drain; upgrades handed to the class's listener after the request
 * checks, or refused with 426 for a class without WebSockets; and the graceful drain: in-flight
 * requests finish, keep-alive connections close, HTTP/2 connections get a GOAWAY, WebSocket
 * libraries are told to close. Worker classes differ in how they run the app, not in this.
 */

const netServerClose = NetServer.prototype.close;

const FEATURES_NOT_LOADED =
  'kelpie: HttpServers was built before the modules its settings turn on were loaded: await loadServingFeatures(settings) first (a worker process has them from its boot)';

export interface HttpServersOptions {
  settings: Settings;
  log: Logger;
  listener: RequestListener;
  listeners: readonly InheritedListener[];
  /** Called as each request starts (request counting). */
  onRequest?: (req: IncomingMessage) => void;
  /** Extra `http.createServer` options (a ServerResponse subclass, say). */
  serverOptions?: ServerOptions;
  /**
   * Handles `Upgrade:` requests (WebSocket). Without it, Node closes such connections, or
   * `refuseWebSockets` answers them.
   */
  upgrade?: UpgradeListener;
  /**
   * For a worker class that does not serve WebSockets: its name and the app. Without `upgrade`,
   * an app that uses WebSockets gets every upgrade refused with 426 and a warning naming the class
   * (refuseUpgrades()).
   */
  refuseWebSockets?: { workerClass: string; app: AppWebSockets };
  /**
   * How this worker stops and resumes accepting (accept-gate.ts): `duplicateListener` (the
   * channel's) lets a worker at --worker-connections leave new connections in the backlog instead
   * of accepting and closing them; a class may add its own accept policy: `onAccept` sees each
   * connection the gate counts, and `onClose` that connection's close (from the one `close`
   * listener HttpServers puts on every connection: the policy needs none of its own).
   */
  accept?: Pick<AcceptGateOptions, 'duplicateListener' | 'onAccept' | 'onChange'> & {
    onClose?: (socket: Socket) => void;
  };
}

/** Every HttpServers of this process or thread, for upgradedConnectionsClosed(). */
const everyHttpServers = new Set<HttpServers>();

/**
 * Resolves once no connection upgraded away from HTTP (a WebSocket) is open on any HttpServers
 * of this process or thread: the last step of a graceful stop (Worker.drainUpgraded).
 */
export function upgradedConnectionsClosed(): Promise<void> {
  return Promise.all([...everyHttpServers].map((http) => http.upgradedClosed())).then(() => {});
}

/** A per-request observer (access log, request counter), when configured. */
type PerRequest = ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

export class HttpServers {
  readonly servers: Server[];
  readonly #options: HttpServersOptions;
  /** HTTP/2 connections: closed with GOAWAY when draining. */
  readonly #sessions = new Set<Http2Session>();
  /**
   * Plain TCP servers that accept for `servers` when something must happen before HTTP or TLS
   * see a connection (--proxy-protocol) or a worker binds its own socket (--reuse-port).
   */
  readonly #fronts: NetServer[] = [];
  /** Servers whose connection checks (header timeout) were started without listen(). */
  readonly #tracking = new Set<Server>();
  /** Per server: how a connection accepted elsewhere reaches it (through the PROXY reader when on). */
  readonly #handOver = new Map<Server, (socket: Socket) => void>();
  #draining = false;
  /** HTTP/2 streams open (tracked only without metrics, see inFlight()). */
  #streams = 0;
  /** While draining: connections with no response under way, and since when. */
  #idleSince: Map<Socket, number> | undefined;
  /** Resolves the drain once no request is left (every connection gone or upgraded). */
  #whenIdle: (() => void) | undefined;
  /** Resolve upgradedClosed() once the last upgraded connection is gone. */
  readonly #whenNoUpgraded: (() => void)[] = [];
  /** Stops the --send-timeout sweeps. */
  readonly #stopSendTimeout: () => void;
  /** Stops and resumes accepting on the listeners this worker shares (--worker-connections, class policies). */
  readonly gate: AcceptGate;
  /** Open connections (HTTP, upgraded, arriving), each with one `close` listener (open-connections.ts). */
  readonly #open: OpenConnections;
  /** The same sets as #open's. */
  readonly #sockets: Set<Socket>;
  readonly #upgraded: Set<Socket>;
  readonly #arriving: Set<Socket>;

  constructor(options: HttpServersOptions) {
    this.#options = options;
    const { settings, log } = options;
    // The modules the settings turn on (serving-features.ts): a worker process loads them at boot;
    // a thread, or a class serving elsewhere, with loadServingFeatures() before it builds its servers.
    const features = servingFeatures(settings);
    if (!features) throw new Error(FEATURES_NOT_LOADED);
    const upgrade = options.upgrade ?? refusedUpgrades(log, options.refuseWebSockets);
    this.gate = new AcceptGate({
      limit: settings.workerConnections,
      backlog: settings.backlog,
      log,
      // A burst of new connections is spread over the workers (SPEC.md 3.3) where there are others
      // to take it and the class has no accept policy of its own (threads).
      spread: settings.workers > 1 && !options.accept?.onAccept,
      ...options.accept,
    });
    everyHttpServers.add(this);
    this.#open = new OpenConnections(this.gate, () => this.#settle(), options.accept?.onClose);
    ({ sockets: this.#sockets, upgraded: this.#upgraded, arriving: this.#arriving } = this.#open);
    const onConnection = this.#connectionTracker();
    this.#stopSendTimeout = watchSendProgress(this.#sockets, settings.sendTimeout, log);
    const { access, count } = requestObservers(settings, log, features, () => this.inFlight());
    const handler = this.#requestHandler(access, count);
    this.servers = options.listeners.map((listener) => {
      const server = createConfiguredServer(settings, log, handler, options.serverOptions, listener.tls);
      this.#trackConnections(server, listener, onConnection, !count);
      this.#trackUpgrades(server);
      if (upgrade) server.on('upgrade', checkedUpgrade(upgrade, settings, log));
      return server;
    });
    this.#setHandOver(features);
  }

  /** The servers' handler: Connection: close once draining, the class's onRequest, counting, the access log, the app. */
  #requestHandler(access: PerRequest, count: PerRequest): RequestListener {
    const app = guardListener(this.#options.listener, this.#options.log);
    const onRequest = this.#options.onRequest;
    return access
      ? (req, res) => {
          if (this.#draining) res.shouldKeepAlive = false;
          onRequest?.(req);
          count?.(req, res);
          access(req, res);
          app(req, res);
        }
      : (req, res) => {
          if (this.#draining) res.shouldKeepAlive = false;
          onRequest?.(req);
          count?.(req, res);
          app(req, res);
        };
  }

  /** What a server does with each HTTP connection: track it until it closes. */
  #connectionTracker(): (socket: Socket) => void {
    const open = this.#open;
    return (socket: Socket) => {
      open.track(socket);
      // Handed in after the drain began: swept like the others if it stays idle (HTTP/2
      // connections are closed by their session instead).
      if ((socket as HttpSocket).alpnProtocol !== 'h2') this.#idleSince?.set(socket, Date.now());
    };
  }

  /** Track a server's connections (TLS ones once the handshake is done), HTTP/2 sessions and, when nothing counts requests, streams. */
  #trackConnections(
    server: Server,
    listener: InheritedListener,
    onConnection: (socket: Socket) => void,
    countStreams: boolean,
  ): void {
    if (listener.tls) {
      // TLS connections are tracked once the handshake is done: the TLS socket carries HTTP.
      server.prependListener('secureConnection', inheritProxyHeader);
      server.on('secureConnection', onConnection);
      server.on('connection', (raw: Socket) => this.#open.arrive(raw));
    } else server.on('connection', onConnection);
    server.on('session', (session: Http2Session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      if (this.#draining) session.close();
    });
    if (countStreams) {
      server.on('stream', (stream: { once(event: 'close', listener: () => void): void }) => {
        this.#streams++;
        stream.once('close', () => this.#streams--);
      });
    }
  }

  /** How a connection accepted elsewhere reaches each server: directly, or after its PROXY header is read. */
  #setHandOver(features: ServingFeatures): void {
    const { settings, log, listeners } = this.#options;
    const readers = new Map<boolean, ReturnType<typeof proxyHeaderReader>>();
    for (const [i, server] of this.servers.entries()) {
      const emit = (socket: Socket) => server.emit('connection', socket);
      if (settings.proxyProtocol === 'off' || !features.proxyProtocol) {
        this.#handOver.set(server, emit);
        continue;
      }
      const tls = listeners[i]?.tls !== undefined;
      let reader = readers.get(tls);
      if (!reader) {
        reader = features.proxyProtocol.proxyHeaderReader({ settings, log, tls });
        readers.set(tls, reader);
      }
      const read = reader;
      this.#handOver.set(server, (socket) => {
        this.#open.arrive(socket);
        read(socket, emit);
      });
    }
  }
  /**
   * Serve a connection accepted elsewhere (the arbiter, for `accept = 'arbiter'` classes) on the
   * server of listener `index`.
   */
  accept(socket: Socket, index = 0): void {
    // One sent just as the drain began is still served, with Connection: close.
    const server = this.servers[index] ?? this.servers[0];
    if (!server) {
      socket.destroy();
      return;
    }
    this.#startTracking(server);
    this.#handOver.get(server)?.(socket);
  }

  /**
   * --sticky: serve a connection the arbiter chose this worker for, on the server of listener
   * `index`. --worker-connections holds as when accepting: at the limit the connection is closed
   * (and logged, as a drop). `read` is what the arbiter read first (arbiter/sticky.ts): its PROXY header
   * is applied and its bytes come first, and no header is read again.
   */
  take(socket: Socket, index = 0, read?: ReadAhead): void {
    const server = this.servers[index] ?? this.servers[0];
    const limit = this.#options.settings.workerConnections;
    if (!server || (limit > 0 && this.#sockets.size >= limit)) {
      socket.destroy();
      server?.emit('drop');
      return;
    }
    // As the servers set it on connections they accept themselves (createConfiguredServer).
    socket.setNoDelay(true);
    if (!read) {
      this.accept(socket, index);
      return;
    }
    this.#startTracking(server);
    if (read.header) applyProxyHeader(socket, read.header);
    if (read.rest.length > 0) socket.unshift(read.rest);
    server.emit('connection', socket);
  }

  /**
   * Node starts the checks of open connections (--header-timeout) when a server starts
   * listening; a server fed by other means needs them started by hand.
   */
  #startTracking(server: Server): void {
    if (server.listening || this.#tracking.has(server)) return;
    this.#tracking.add(server);
    server.emit('listening');
  }

  /** Connections open right now. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Connections upgraded away from HTTP (WebSockets) open right now. */
  get upgradedConnections(): number {
    return this.#upgraded.size;
  }

  /**
   * Know every connection handed to an `upgrade` listener, whoever added it (the worker class,
   * a library given the server by `attach`): a listener of kelpie's goes first as soon as there
   * is any. Alone, it does what Node does with none: closes the connection.
   */
  #trackUpgrades(server: Server): void {
    let adding = false;
    const track = (_req: IncomingMessage, socket: Socket) => {
      if (server.listenerCount('upgrade') === 1) {
        socket.destroy();
        return;
      }
      // Its 'close' listener (open-connections.ts) removes it; one already gone is not added.
      if (this.#sockets.has(socket)) this.#upgraded.add(socket);
      if (!this.#draining) return;
      this.#settle();
      // Upgraded while the worker drains: closed like the others once a `ws` WebSocket has it.
      setImmediate(() => closeWebSocket(socket));
    };
    server.on('newListener', (event: string | symbol) => {
      if (event !== 'upgrade' || adding || server.listeners('upgrade').includes(track)) return;
      adding = true;
      server.prependListener('upgrade', track);
      adding = false;
    });
  }

  /** After a connection closed or changed: resolve the waits that are over. */
  #settle(): void {
    if (this.#whenIdle && this.#arriving.size === 0 && this.#sockets.size <= this.#upgraded.size) {
      const resolve = this.#whenIdle;
      this.#whenIdle = undefined;
      resolve();
    }
    if (this.#upgraded.size === 0 && this.#whenNoUpgraded.length > 0) {
      for (const resolve of this.#whenNoUpgraded.splice(0)) resolve();
    }
  }

  /** Resolves once no upgraded connection (WebSocket) is open: after drain(), the last step of a graceful stop. */
  upgradedClosed(): Promise<void> {
    if (this.#upgraded.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenNoUpgraded.push(resolve));
  }

  /**
   * Requests being handled now: HTTP/1 connections with a response under way (Node's own
   * `_httpMessage`, which graceful-shutdown libraries read too) and open HTTP/2 streams (counted
   * when metrics do not count every request).
   */
  inFlight(): number {
    let busy = this.#streams;
    for (const socket of this.#sockets) if ((socket as HttpSocket)._httpMessage) busy++;
    return busy;
  }

  /** Listen on every inherited socket (and, with --reuse-port, on a socket of this worker's own). */
  async listen(): Promise<void> {
    const { listeners, settings, log } = this.#options;
    const acceptFailed = acceptErrorLogger(log);
    const listenOn = (server: NetServer, options: Record<string, unknown>) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // The backlog as an argument: net.Server ignores options.backlog when listening on an fd.
        server.listen(options, settings.backlog, () => {
          server.off('error', reject);
          server.on('error', acceptFailed);
          resolve();
        });
      });
    const front = (server: Server) => {
      const net = createNetServer(
        // Paused until the PROXY header is read; otherwise as the server would accept itself.
        { pauseOnConnect: settings.proxyProtocol !== 'off', allowHalfOpen: !listenerIsTls(server), noDelay: true },
        this.#handOver.get(server) as (socket: Socket) => void,
      );
      ownServer(net);
      net.maxConnections = settings.workerConnections;
      net.on('drop', (data) => server.emit('drop', data));
      this.#fronts.push(net);
      this.#startTracking(server);
      return net;
    };
    // --sticky: the arbiter accepts, and sends this worker its connections (take()).
    if (settings.sticky) {
      for (const server of this.servers) this.#startTracking(server);
      return;
    }
    await Promise.all(
      this.servers.map(async (server, i) => {
        const listener = listeners[i] as InheritedListener;
        const shared = settings.proxyProtocol === 'off' ? server : front(server);
        await listenOn(shared, { fd: listener.fd });
        this.gate.add(shared, { kind: 'shared', index: i });
        if (!settings.reusePort || !listener.reusePort) return;
        const { host, port } = listener.reusePort;
        const own = front(server);
        try {
          await listenOn(own, { host, port, reusePort: true });
          this.gate.add(own, { kind: 'own', host, port });
        } catch (error) {
          // Workers running as another --user than the arbiter cannot join its SO_REUSEPORT group.
          log.warning(
            `--reuse-port: could not bind a socket of this worker on ${host}:${port} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); serving the shared socket only`,
          );
          // Listeners bind side by side: remove this one, not whichever front came last.
          this.#fronts.splice(this.#fronts.indexOf(own), 1);
          own.close();
        }
      }),
    );
  }

  /**
   * Stop accepting; responses not yet started say `Connection: close`; keep-alive connections
   * close after their next response, or once idle for a grace period (min(--keep-alive, 1 s)).
   * HTTP/2 connections get a GOAWAY and close once their open streams are done.
   *
   * Libraries that manage upgraded connections get the signal they understand, at once: `close`
   * is emitted on kelpie's servers (those `attach(server)` was given) and on the app's own served
   * server when a WebSocket library is attached to it (listen-capture.ts closeServedServer, through own-servers.ts), so
   * engine.io (socket.io) disconnects its clients; then every upgraded connection that a `ws`
   * WebSocket still holds open is sent close 1001 `Server shutting down`. Other upgraded
   * connections are left to the app's shutdown.
   *
   * Resolves when no request is left: every connection is gone or upgraded (upgradedClosed()
   * waits for those).
   *
   * Why a grace and not at once: a client reusing a keep-alive connection may already have sent
   * its next request when the server closes the connection, and then sees a reset it must retry.
   * A busy connection gets its next request within the grace and a `Connection: close` answer;
   * only a connection idle for the whole grace is closed, as its keep-alive timeout would.
   */
  async drain(): Promise<void> {
    this.#draining = true;
    this.gate.end();
    const grace = Math.min(this.#options.settings.keepAlive * 1000, 1000);
    const { idleSince, stop: stopSweep } = sweepIdleConnections(this.#sockets, grace);
    this.#idleSince = idleSince;
    for (const session of this.#sessions) session.close();
    for (const server of [...this.servers, ...this.#fronts]) {
      // net.Server's close: stop listening, without http.Server's immediate close of idle
      // connections. Its callback would wait for upgraded connections too: the wait is below.
      if (server.listening) netServerClose.call(server);
    }
    this.#closeLibrarySockets();
    await new Promise<void>((resolve) => {
      this.#whenIdle = resolve;
      this.#settle();
    });
    stopSweep();
  }

  /** The libraries' signal to close their upgraded connections (see drain()). */
  #closeLibrarySockets(): void {
    for (const server of this.servers) announceClose(server);
    closeAppServer();
    for (const socket of this.#upgraded) closeWebSocket(socket);
  }

  /** Drop every connection now. */
  close(): void {
    this.#stopSendTimeout();
    this.gate.end();
    for (const server of [...this.servers, ...this.#fronts]) server.close();
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
  }
}
