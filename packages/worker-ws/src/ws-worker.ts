import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type AppWebSocket,
  type CrosswsOptions,
  HttpServers,
  type InheritedListener,
  type Logger,
  type ReadAhead,
  SHUTDOWN_CLOSE,
  type UpgradeListener,
  type UpgradeRefusal,
  type WebSocketHandlers,
  Worker,
  type WorkerMeta,
  writeUpgradeRefusal,
} from '@kelpie/core';
import { WebSocket, WebSocketServer } from 'ws';
import pkg from '../package.json' with { type: 'json' };

/**
 * The WebSocket worker (`-k ws`): HTTP exactly as `-k async` serves it, plus WebSocket upgrades
 * on the `ws` package. An app chooses how upgrades are handled (SPEC.md 1.5):
 *
 * - `websocket` handlers: kelpie runs the handshake and calls `upgrade(req)` to accept or
 *   refuse, then `open`, `message`, `close` and `error` for each connection;
 * - an `upgrade(req, socket, head)` listener: the app does the handshake itself;
 * - `attach(server)`: called once per server, for libraries that install their own upgrade
 *   handling (socket.io, graphql-ws);
 * - crossws's options as `websocket` (Nitro and Nuxt node-listener builds, h3): served through
 *   crossws's node adapter on kelpie's `ws` server, so its limits, pings and close 1001 apply.
 *
 * Sockets of `websocket` handlers are kelpie's to manage: pings find dead peers
 * (`--ws-ping-interval`), a slow reader is dropped past `--ws-max-buffered`, and a graceful stop
 * sends close 1001 ("going away") and waits for the clients, up to `--graceful-timeout`. Sockets
 * of the other two are closed by their library on the stop's signals (HttpServers.drain()).
 */
export class WsWorker extends Worker {
  static override meta: WorkerMeta = {
    name: 'ws',
    version: pkg.version,
    core: '^0.1.0',
    description: 'HTTP as -k async serves it, plus WebSocket upgrades on the ws package',
  };

  /** --sticky: the arbiter accepts and sends each client's connections here (connection()). */
  static override sticky = true;

  #http: HttpServers | undefined;
  #wss: WebSocketServer | undefined;
  #pinger: NodeJS.Timeout | undefined;
  #stopping = false;
  /** Sockets that answered the last ping. */
  readonly #alive = new WeakSet<WebSocket>();

  async serve(): Promise<void> {
    const { websocket, upgrade, attach, crossws } = this.app;
    let onUpgrade: UpgradeListener | undefined;
    if (upgrade) onUpgrade = upgrade;
    else if (crossws) onUpgrade = await this.#crossws(crossws);
    else if (websocket) onUpgrade = this.#handlers(websocket);
    this.#http = new HttpServers({
      settings: this.settings,
      log: this.log,
      listener: this.app.listener,
      listeners: this.listeners,
      onRequest: () => this.countRequest(),
      upgrade: onUpgrade,
      // At --worker-connections, stop accepting rather than accept and close.
      accept: { duplicateListener: (index) => this.channel.duplicateListener(index) },
    });
    if (attach) for (const server of this.#http.servers) await attach(server);
    // socket.io attaches through attach(server), or to the app's own server (listen capture).
    const mayHoldSessions = attach !== undefined || this.app.kind === 'server';
    if (mayHoldSessions && this.settings.workers > 1 && !this.settings.sticky) {
      for (const server of this.#http.servers) watchForLostSessions(server, this.log);
    }
    await this.#http.listen();
  }

  /** kelpie's one `ws` server per worker, without a socket of its own, with the ws-* settings applied. */
  #server(): WebSocketServer {
    const { settings, log } = this;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: settings.wsMaxPayload,
      perMessageDeflate: settings.wsPerMessageDeflate,
      clientTracking: true,
      WebSocket: boundedSocketClass(settings.wsMaxBuffered, log),
    });
    this.#wss = wss;
    if (settings.wsPingInterval > 0) {
      this.#pinger = setInterval(() => this.#ping(), settings.wsPingInterval * 1000);
      this.#pinger.unref();
    }
    return wss;
  }

  /** A new connection: counted as a request, watched by the pings, closed at once when draining. */
  #opened(ws: WebSocket): void {
    this.countRequest();
    this.#alive.add(ws);
    ws.on('pong', () => this.#alive.add(ws));
    if (this.#stopping) ws.close(SHUTDOWN_CLOSE.code, SHUTDOWN_CLOSE.reason);
  }

  /**
   * crossws's hooks, through its own node adapter: it builds the web Request, calls the `upgrade`
   * hook and the peers' hooks; kelpie lends it the `ws` server, so the ws-* settings and the
   * graceful close apply to its connections as to those of `websocket` handlers.
   */
  async #crossws(options: CrosswsOptions): Promise<UpgradeListener> {
    const { default: nodeAdapter } = await import('crossws/adapters/node');
    const wss = this.#server();
    wss.on('connection', (ws: WebSocket) => this.#opened(ws));
    const adapter = nodeAdapter({ ...(options as Parameters<typeof nodeAdapter>[0]), wss } as never);
    return (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      if (this.#stopping) return writeUpgradeRefusal(socket, 503);
      adapter.handleUpgrade(req, socket, head).then(undefined, (error: unknown) => {
        this.#upgradeFailed(req, socket, error, 'the crossws upgrade hook');
      });
    };
  }

  /** The upgrade listener for `websocket` handlers, on kelpie's `ws` server. */
  #handlers(handlers: WebSocketHandlers): UpgradeListener {
    const { log } = this;
    const wss = this.#server();
    const call = (name: string, ws: AppWebSocket, run: () => unknown) => {
      try {
        const result = run() as PromiseLike<unknown> | undefined;
        if (result && typeof result.then === 'function') {
          result.then(undefined, (error) => this.#handlerFailed(name, ws, error));
        }
      } catch (error) {
        this.#handlerFailed(name, ws, error);
      }
    };
    const accept = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        this.#opened(ws);
        ws.on('message', (data, isBinary) => {
          call('message', ws, () => handlers.message?.(ws, toBuffer(data), isBinary));
        });
        ws.on('close', (code, reason) => call('close', ws, () => handlers.close?.(ws, code, reason)));
        ws.on('error', (error) => {
          log.debug(`WebSocket error from ${req.socket.remoteAddress ?? '-'}: ${error.message}`);
          call('error', ws, () => handlers.error?.(ws, error));
        });
        call('open', ws, () => handlers.open?.(ws, req));
      });
    };
    return (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      if (this.#stopping) return writeUpgradeRefusal(socket, 503);
      if (!handlers.upgrade) return accept(req, socket, head);
      let decision: ReturnType<NonNullable<WebSocketHandlers['upgrade']>>;
      try {
        decision = handlers.upgrade(req);
      } catch (error) {
        return this.#upgradeFailed(req, socket, error);
      }
      Promise.resolve(decision).then(
        (refusal) => {
          if (isRefusal(refusal)) writeUpgradeRefusal(socket, refusal);
          else if (!socket.destroyed) accept(req, socket, head);
        },
        (error) => this.#upgradeFailed(req, socket, error),
      );
    };
  }

  #upgradeFailed(req: IncomingMessage, socket: Duplex, error: unknown, where = 'websocket.upgrade()'): void {
    this.log.error(`Error in ${where} for ${req.url}`, error);
    if (!socket.destroyed) writeUpgradeRefusal(socket, 500);
  }

  /** A handler threw: log it and close that connection with 1011 (internal error), as RFC 6455 says. */
  #handlerFailed(name: string, ws: AppWebSocket, error: unknown): void {
    this.log.error(`Error in websocket.${name}()`, error);
    if (name === 'close' || name === 'error') return;
    if (ws.readyState === WebSocket.OPEN) ws.close(1011, 'Internal error');
    else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  }

  /** Drop sockets that did not answer the previous ping, and slow readers; ping the rest. */
  #ping(): void {
    for (const ws of this.#wss?.clients ?? []) {
      if (!this.#alive.has(ws)) {
        this.log.debug('Dropping a WebSocket that did not answer the last ping');
        ws.terminate();
        continue;
      }
      this.#alive.delete(ws);
      ws.ping();
    }
  }

  /** --sticky: a connection the arbiter chose this worker for. */
  override connection(socket: Socket, listener: InheritedListener, read?: ReadAhead): void {
    if (!this.#http) socket.destroy();
    else this.#http.take(socket, this.listeners.indexOf(listener), read);
  }

  async drain(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#pinger);
    for (const ws of this.#wss?.clients ?? []) ws.close(SHUTDOWN_CLOSE.code, SHUTDOWN_CLOSE.reason);
    // A WebSocket library the app exported (a crossws adapter) closes its own connections.
    try {
      await this.app.closeWebSockets?.();
    } catch (error) {
      this.log.error('Error closing the WebSockets of the app', error);
    }
    // Then libraries' sockets (socket.io, the app's `ws` servers) get their close; the drain
    // waits for requests only, and drainUpgraded() for the WebSockets once the app's shutdown ran.
    await this.#http?.drain();
  }

  override close(): void {
    this.#stopping = true;
    clearInterval(this.#pinger);
    for (const ws of this.#wss?.clients ?? []) ws.terminate();
    this.#http?.close();
  }
}

/**
 * Without --sticky, an engine.io (socket.io) long-polling request that reaches another worker
 * than its session's is answered 400 ("Session ID unknown"), and the client sees
 * `xhr post error`. Such a 400 on a polling request with a session id is said once per worker,
 * with the fix. Only apps with `attach` or a server of their own under several workers pay for
 * the look, and only on requests whose URL names a session.
 */
function watchForLostSessions(server: Server, log: Logger): void {
  let said = false;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (!url.includes('sid=') || !url.includes('transport=polling')) return;
    res.once('finish', () => {
      if (res.statusCode !== 400 || said) return;
      said = true;
      server.off('request', onRequest);
      log.warning(
        `A long-polling request of a session this worker does not know was answered 400 (${req.method} ${url.split('?')[0]}, socket.io/engine.io "Session ID unknown"), most likely because a client's requests reach several workers. Run with --sticky, or see docs/frameworks.md (socket.io)`,
      );
    });
  };
  server.on('request', onRequest);
}

/**
 * Sockets that drop a reader who falls `limit` bytes behind: `ws` queues whatever is sent to a
 * slow client in memory, without bound.
 */
function boundedSocketClass(limit: number, log: Logger): typeof WebSocket {
  class BoundedWebSocket extends WebSocket {}
  const send = WebSocket.prototype.send;
  BoundedWebSocket.prototype.send = function (this: WebSocket, ...args: Parameters<typeof send>) {
    send.apply(this, args);
    if (this.bufferedAmount > limit && this.readyState === WebSocket.OPEN) {
      log.warning(
        `Dropping a WebSocket whose client reads too slowly: ${this.bufferedAmount} bytes unsent (--ws-max-buffered ${limit})`,
      );
      this.terminate();
    }
  } as typeof send;
  return BoundedWebSocket;
}

function isRefusal(value: unknown): value is UpgradeRefusal {
  if (typeof value === 'number') return true;
  return typeof value === 'object' && value !== null && typeof (value as { status?: unknown }).status === 'number';
}

/** `ws` hands messages as a Buffer, an ArrayBuffer or fragments; the app always gets one Buffer. */
function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
