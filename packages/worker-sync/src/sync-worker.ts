import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  HeldConnection,
  HttpServers,
  type InheritedListener,
  KelpieError,
  type Logger,
  type RequestListener,
  type Settings,
  Worker,
  type WorkerMeta,
} from '@kelpie/core';
import pkg from '../package.json' with { type: 'json' };

/** Marks a connection that already carried its one request. */
const SERVED = Symbol('kelpie.sync.served');
/** Asks the arbiter for the next connection, once per connection. */
const NEXT = Symbol('kelpie.sync.next');
type SyncSocket = Socket & { [SERVED]?: true; [NEXT]?: () => void };

/** The TCP connection a request came on: under TLS, the socket below the TLS socket. */
function connectionOf(socket: Socket): SyncSocket {
  return ((socket as Socket & { _parent?: Socket })._parent ?? socket) as SyncSocket;
}

/**
 * The sync worker (`-k sync`), after Gunicorn's: each worker process handles one request at a
 * time, from start to finish, whatever the handler awaits, and closes the connection after the
 * response.
 *
 * Connections come from the arbiter (`accept = 'arbiter'`): the worker asks for one connection
 * to serve and one to hold, serves its request, and as soon as the response is sent starts the
 * held one (if it has one) and asks for another. A held connection is not read from until then:
 * one request at a time still. The arbiter gives each connection to an idle worker first, the
 * longest waiting, and lends one to a serving worker only when none is idle; when a worker goes
 * idle with nothing queued, held connections are given back to it (`kelpie:release`), so none
 * waits behind a long request while a worker is free (docs/sync-and-threads.md has the
 * measurements behind this choice).
 */
export class SyncWorker extends Worker {
  static override meta: WorkerMeta = {
    name: 'sync',
    version: pkg.version,
    core: '^0.1.0',
    description: 'One request at a time per process; the arbiter hands connections to idle workers',
  };

  static override accept = 'arbiter' as const;

  /** One request per connection, one connection at a time: HTTP/2's many streams per connection do not fit. */
  static checkConfig(settings: Settings, _log: Logger): void {
    if (settings.httpProtocols.includes('h2')) {
      throw new KelpieError(
        'KELPIE_ERR_INVALID_SETTING',
        'Invalid value for --http-protocols: "h2" with -k sync, which serves one request per connection. Use h1, or -k async (or threads) for HTTP/2.',
      );
    }
  }

  #http: HttpServers | undefined;
  #stopping = false;
  /** A connection is being served. */
  #busy = false;

  async serve(): Promise<void> {
    const app = this.app.listener;
    const listener: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
      const socket = connectionOf(req.socket);
      // Pipelined requests after the first are never run: the connection closes after one response.
      if (socket[SERVED]) return;
      socket[SERVED] = true;
      socket.setTimeout(0);
      res.shouldKeepAlive = false;
      res.once('finish', socket[NEXT] as () => void);
      // Counted here rather than in HttpServers' onRequest: the pipelined extras, never run, do not count.
      this.countRequest();
      return app(req, res);
    };
    this.#http = new HttpServers({
      settings: this.settings,
      log: this.log,
      listener,
      listeners: this.listeners,
      refuseWebSockets: { workerClass: 'sync', app: this.app },
    });
    // One to serve and one to hold (the last credit): the next request starts without a trip to the arbiter.
    this.channel.requestConnections(2, 1);
  }

  /** While one is served, core keeps the held connection, in order, until `next` starts it. */
  override hold(held: HeldConnection): void {
    if (this.#stopping) held.release();
    else if (!this.#busy) held.start();
  }

  override connection(socket: SyncSocket, listener: InheritedListener): void {
    const http = this.#http;
    if (!http) {
      socket.destroy();
      return;
    }
    // A client that connects and sends nothing would hold this worker: it gets --timeout seconds.
    if (this.settings.timeout > 0) socket.setTimeout(this.settings.timeout * 1000, () => socket.destroy());
    // As soon as this one's response is sent (or it closes), the held one starts and another is asked for.
    this.#busy = true;
    let done = false;
    const next = () => {
      if (done) return;
      done = true;
      this.#busy = false;
      if (this.#stopping) return;
      HeldConnection.startOldest();
      this.channel.requestConnections(1);
    };
    socket.once('close', next);
    socket[NEXT] = next;
    http.accept(socket, this.listeners.indexOf(listener));
  }

  async drain(): Promise<void> {
    this.#stopping = true;
    // Held connections go back to the arbiter, which hands them on (or closes them).
    HeldConnection.releaseAll();
    await this.#http?.drain();
  }

  override close(): void {
    this.#stopping = true;
    HeldConnection.releaseAll();
    this.#http?.close();
  }
}
