import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Server as HttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { type AddressInfo, isIP, Server as NetServer } from 'node:net';
import { reusePortSupported } from '../config/reuse-port.js';
import { isOwnServer, onCloseAppServer } from '../http/own-servers.js';
import { Server as NodeHttpServer } from '../node-http.js';
import type { Logger } from '../observability/logger.js';

/**
 * Listen capture (SPEC.md 1.11): an app that creates its own HTTP server and calls `listen()`
 * is served on kelpie's sockets. The listen never binds: the server is marked listening, its
 * `listening` event and callback fire, `address()` reports kelpie's first bind, and kelpie's own
 * servers hand each request (and upgrade) to the app's server's listeners.
 *
 * Two mechanisms, chosen once per process (or thread) by what Node offers:
 * - `channel`: the documented `tracing:net.server.listen` diagnostics channel (Node 22.3+, and
 *   late 20.x releases) announces every listen before it binds; kelpie replaces the bind step of
 *   that one server (its `_listen2`, which every listen path ends in outside node:cluster).
 * - `patch`: without the channel, `net.Server.prototype.listen` is wrapped before the app loads.
 * Both lead to the same decision and the same fake listening state (`adopt`).
 */

export type ListenMechanism = 'channel' | 'patch';

/** What happens to the app's second HTTP listen on another port (--extra-listen). */
export type ExtraListenPolicy = 'refuse' | 'bind';

/** Where the app asked to listen, as far as kelpie reads it. */
export interface Endpoint {
  port?: number;
  host?: string;
  path?: string;
  fd?: number;
}

export interface ListenCaptureOptions {
  log: Logger;
  /** kelpie's listener URLs in this worker (`http://127.0.0.1:8000`, `unix:/run/app.sock`); the first TCP one is what `address()` reports. */
  urls: readonly string[];
  extraListen: ExtraListenPolicy;
  /** Force a mechanism (tests, and `KELPIE_LISTEN_CAPTURE`); the default is the channel where Node has it. */
  mechanism?: ListenMechanism;
}

export { ownServer } from '../http/own-servers.js';

/** A Node HTTP server of any flavour: http, https, or http2 (plain or secure). */
export function isHttpServer(server: unknown): server is HttpServer {
  if (server instanceof NodeHttpServer) return true;
  if (!(server instanceof NetServer)) return false;
  // https.Server (a TLS server with HTTP's options) and the http2 servers, known without loading
  // node:https or node:http2.
  const name = server.constructor?.name;
  return name === 'Http2Server' || name === 'Http2SecureServer' || 'headersTimeout' in server;
}

/** The address a server that asked for `endpoint` would report. */
function requestedAddress(endpoint: Endpoint): AddressInfo | string | null {
  if (endpoint.path !== undefined) return endpoint.path;
  const address = endpoint.host && isIP(endpoint.host) ? endpoint.host : '::';
  return { address, family: isIP(address) === 4 ? 'IPv4' : 'IPv6', port: endpoint.port ?? 0 };
}

type Role =
  /** The app's server: served on kelpie's binds. */
  | 'main'
  /** The same endpoint again (Fastify's second address for `localhost`): marked listening, never reached. */
  | 'alias'
  /** The module exported an app that kelpie serves; this server of its own is not opened. */
  | 'duplicate'
  /** A second HTTP server on another port, refused by --extra-listen refuse. */
  | 'refused'
  /** Left to bind as asked: not HTTP, or --extra-listen bind. */
  | 'pass'
  /** --extra-listen bind on a fixed port where Node has SO_REUSEPORT: every worker binds it. */
  | 'shared';

export interface ListenCapture {
  readonly mechanism: ListenMechanism;
  /** The app's server, once it has listened. */
  readonly server: HttpServer | undefined;
  /** Resolves with the app's server when it listens (at once if it has). */
  whenListening(): Promise<HttpServer>;
  /** The module exported an app that kelpie serves: the app's own listens are not served. */
  servingExport(): void;
  /** Stop capturing listens (servers already captured stay as they are). */
  dispose(): void;
}

/** The capture running in this process or thread (one at a time). */
let active: ListenCapture | undefined;
/** The app's server this process or thread serves, if any (kept after the capture is disposed). */
let served: () => HttpServer | undefined = () => undefined;

/** Whether Node publishes `tracing:net.server.listen` before binding (checked without binding). */
function channelPublishesListen(): boolean {
  let seen = false;
  const probe = new NetServer();
  const onStart = (message: unknown) => {
    if ((message as { server?: unknown }).server === probe) seen = true;
  };
  // The probe's bind step does nothing, whatever happens: no socket is opened either way.
  (probe as unknown as { _listen2: () => void })._listen2 = () => {};
  subscribe('tracing:net.server.listen:asyncStart', onStart);
  try {
    probe.listen(0);
  } finally {
    unsubscribe('tracing:net.server.listen:asyncStart', onStart);
  }
  return seen;
}

function describe(endpoint: Endpoint): string {
  if (endpoint.path !== undefined) return `unix socket ${endpoint.path}`;
  if (endpoint.fd !== undefined) return `descriptor ${endpoint.fd}`;
  if (!endpoint.port) return 'a random port (0)';
  return `port ${endpoint.port}${endpoint.host ? ` (host ${endpoint.host})` : ''}`;
}

function portOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return undefined;
}

/** The endpoint of Node's normalized listen options (the channel's `options`). */
function endpointOfOptions(options: Record<string, unknown>): Endpoint {
  const endpoint: Endpoint = {};
  const port = portOf(options.port);
  if (port !== undefined) endpoint.port = port;
  if (typeof options.host === 'string') endpoint.host = options.host;
  if (typeof options.path === 'string') endpoint.path = options.path;
  if (typeof options.fd === 'number') endpoint.fd = options.fd;
  return endpoint;
}

/** `listen()`'s arguments as Node reads them: (options[, cb]), (path[, backlog][, cb]), ([port[, host[, backlog]]][, cb]). */
function endpointOfArgs(args: readonly unknown[]): Endpoint {
  const [first, second] = args;
  if (first !== null && typeof first === 'object') return endpointOfOptions(first as Record<string, unknown>);
  if (typeof first === 'string' && portOf(first) === undefined) return { path: first };
  const endpoint: Endpoint = {};
  const port = portOf(first);
  if (port !== undefined) endpoint.port = port;
  if (typeof second === 'string') endpoint.host = second;
  return endpoint;
}

/** The address kelpie's first TCP bind reports, or its first bind's path. */
function addressOf(urls: readonly string[]): AddressInfo | string | null {
  for (const text of urls) {
    if (!/^https?:/.test(text)) continue;
    const url = new URL(text);
    const address = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    return { address, family: isIP(address) === 6 ? 'IPv6' : 'IPv4', port };
  }
  const unix = urls.find((text) => text.startsWith('unix:'));
  return unix ? unix.slice('unix:'.length) : null;
}

/** Adopted servers, each with how kelpie's graceful stop closes it (closeServedServer). */
const STOPPERS = new WeakMap<HttpServer, () => void>();

/**
 * Make `server` behave as if listening, without a socket: `listening`, `address()`, `close()`
 * (the callback gets no error, as after a real listen) and the `listening` event on the next tick.
 */
function adopt(server: HttpServer, address: () => AddressInfo | string | null): void {
  let listening = true;
  /** Closed by kelpie's graceful stop (closeServedServer): the app's own close() then just succeeds. */
  let stopped = false;
  const target = server as unknown as Record<string, unknown>;
  Object.defineProperty(server, 'listening', { configurable: true, get: () => listening });
  target.address = () => (listening ? address() : null);
  const close = Object.getPrototypeOf(server).close as (this: HttpServer) => HttpServer;
  STOPPERS.set(server, () => {
    if (!listening) return;
    listening = false;
    stopped = true;
    close.call(server);
  });
  target.close = function (this: HttpServer, callback?: (error?: Error) => void): HttpServer {
    if (stopped) {
      // The close the app asks for has happened: its callback runs, its 'close' listeners ran then.
      stopped = false;
      if (typeof callback === 'function') process.nextTick(callback);
      return this;
    }
    if (!listening) {
      if (typeof callback === 'function') {
        const error = Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });
        process.nextTick(callback, error);
      }
      return this;
    }
    listening = false;
    if (typeof callback === 'function') this.once('close', () => callback());
    // Node's own close with no socket: it stops the server's timers and emits 'close' next tick.
    return close.call(this);
  };
  process.nextTick(() => server.emit('listening'));
}

/** Node's defaults for what apps set on their server, in milliseconds. */
const NODE_DEFAULTS = { keepAliveTimeout: 5000, headersTimeout: 60_000, requestTimeout: 300_000 } as const;

/**
 * Say what of the app's own server kelpie does not use: its TLS (kelpie's --certfile serves it)
 * and timeouts it set (an app sets keepAliveTimeout right after listen(), for a balancer's idle
 * timeout): read once the listen is done, on the next tick.
 */
function checkServerSettings(server: HttpServer, options: ListenCaptureOptions): void {
  const tls = typeof (server as unknown as { addContext?: unknown }).addContext === 'function';
  if (tls && !options.urls.some((url) => url.startsWith('https:'))) {
    options.log.warning(
      "The app's server is an HTTPS server: kelpie serves it with its own TLS settings, and without --certfile and --keyfile that is plain HTTP",
    );
  }
  process.nextTick(() => {
    const changed = Object.entries(NODE_DEFAULTS)
      .filter(([name, value]) => {
        const set = (server as unknown as Record<string, unknown>)[name];
        return typeof set === 'number' && set !== value;
      })
      .map(([name]) => `${name} ${(server as unknown as Record<string, number>)[name]} ms`);
    if (changed.length === 0) return;
    options.log.info(
      `The app's server sets ${changed.join(', ')}: kelpie's settings apply instead (--keep-alive, --header-timeout)`,
    );
  });
}

/** What one capture has seen: the app's first HTTP server, and who waits for it. */
interface CaptureState {
  main?: { server: HttpServer; endpoint: Endpoint; served: boolean };
  exportServed: boolean;
  waiting: ((server: HttpServer) => void)[];
  /** The port of kelpie's first TCP bind: a listen on it is the app's server again. */
  kelpiePort?: number;
}

function sameEndpoint(state: CaptureState, endpoint: Endpoint): boolean {
  const { main } = state;
  if (!main) return false;
  if (endpoint.path !== undefined) return endpoint.path === main.endpoint.path;
  if (!endpoint.port) return false;
  return endpoint.port === main.endpoint.port || endpoint.port === state.kelpiePort;
}

/** A second HTTP server of the app's: opened in every worker under --extra-listen bind, else refused. */
function secondServerRole(endpoint: Endpoint, options: ListenCaptureOptions): Role {
  const { log } = options;
  if (options.extraListen === 'bind') {
    const shared =
      reusePortSupported() && Boolean(endpoint.port) && endpoint.path === undefined && endpoint.fd === undefined;
    log.warning(
      `The app opened a second HTTP server on ${describe(endpoint)}: opened as asked (--extra-listen bind), in every worker, outside kelpie's limits, logs and drain${
        shared
          ? ', each worker with SO_REUSEPORT'
          : endpoint.port
            ? '; without SO_REUSEPORT (Node 22.12 or later) one worker only can hold the port'
            : ''
      }`,
    );
    return shared ? 'shared' : 'pass';
  }
  log.warning(
    `The app opened a second HTTP server on ${describe(endpoint)}: not opened; kelpie serves the app's first server on its binds (--extra-listen bind opens others in every worker)`,
  );
  return 'refused';
}

/** What becomes of a server the app listens with (SPEC.md 1.11). */
function decideRole(server: object, endpoint: Endpoint, state: CaptureState, options: ListenCaptureOptions): Role {
  const { log } = options;
  if (!isHttpServer(server)) {
    const local = endpoint.path !== undefined || !endpoint.port || /^(127\.|::1$|localhost$)/.test(endpoint.host ?? '');
    const line = `The app listens on ${describe(endpoint)} with a server that is not HTTP: kelpie leaves it alone, and every worker opens it`;
    if (local) log.debug(line);
    else log.warning(line);
    return 'pass';
  }
  if (!state.main) {
    state.main = { server, endpoint, served: !state.exportServed };
    if (state.exportServed) {
      log.warning(
        `The app module exports an app and also started its own server on ${describe(endpoint)}: kelpie serves the exported app on its binds and did not open ${describe(endpoint)}`,
      );
      return 'duplicate';
    }
    log.debug(`The app's listen on ${describe(endpoint)} is served on kelpie's binds (${options.urls.join(', ')})`);
    checkServerSettings(server, options);
    for (const resolve of state.waiting.splice(0)) resolve(server);
    return 'main';
  }
  if (sameEndpoint(state, endpoint)) {
    log.debug(`The app listens on ${describe(endpoint)} again (another address of the same port): served as the first`);
    return 'alias';
  }
  return secondServerRole(endpoint, options);
}

type Capture = (server: object, endpoint: Endpoint) => Role;

/** The `channel` mechanism: Node publishes every listen() on `tracing:net.server.listen`. */
function captureByChannel(capture: Capture): () => void {
  const onStart = (message: unknown) => {
    const { server, options: listenOptions } = message as { server: NetServer; options: Record<string, unknown> };
    if (isOwnServer(server)) return;
    const endpoint = endpointOfOptions(listenOptions);
    const role = capture(server, endpoint);
    if (role === 'shared') listenOptions.reusePort = true;
    if (role === 'pass' || role === 'shared') return;
    // No name lookup for a host that is not used (Node reads it before listen() returns; the
    // object may be the app's own, so it gets its host back right after). Every path then ends
    // in the bind step, which for this server does nothing: adopt() emits 'listening'.
    if ('host' in listenOptions) {
      const host = listenOptions.host;
      delete listenOptions.host;
      queueMicrotask(() => {
        listenOptions.host = host;
      });
    }
    (server as unknown as { _listen2: () => void })._listen2 = () => {};
  };
  subscribe('tracing:net.server.listen:asyncStart', onStart);
  return () => unsubscribe('tracing:net.server.listen:asyncStart', onStart);
}

/** The `patch` mechanism, for a Node without the channel: `net.Server.prototype.listen` wrapped. */
function captureByPatch(capture: Capture): () => void {
  const listen = NetServer.prototype.listen;
  const wrapped = function (this: NetServer, ...args: unknown[]) {
    if (isOwnServer(this)) return listen.apply(this, args as never);
    const last = args[args.length - 1];
    const callback = typeof last === 'function' ? (last as () => void) : undefined;
    const given = callback ? args.slice(0, -1) : args;
    const endpoint = endpointOfArgs(given);
    const role = capture(this, endpoint);
    if (role === 'pass') return listen.apply(this, args as never);
    if (role === 'shared') {
      const options =
        given[0] !== null && typeof given[0] === 'object' ? given[0] : { port: endpoint.port, host: endpoint.host };
      return listen.call(this, { ...(options as object), reusePort: true }, ...(callback ? [callback] : []));
    }
    if (callback) this.once('listening', callback);
    return this;
  };
  NetServer.prototype.listen = wrapped as typeof listen;
  return () => {
    if (NetServer.prototype.listen === wrapped) NetServer.prototype.listen = listen;
  };
}

/** Start capturing listens in this process or thread: before the app module is imported. */
export function startListenCapture(options: ListenCaptureOptions): ListenCapture {
  if (active) return active;
  const { log } = options;
  const first = addressOf(options.urls);
  const state: CaptureState = {
    exportServed: false,
    waiting: [],
    kelpiePort: typeof first === 'object' && first ? first.port : undefined,
  };
  const address = () => addressOf(options.urls);

  const capture: Capture = (server, endpoint) => {
    if (isOwnServer(server)) return 'pass';
    const role = decideRole(server, endpoint, state, options);
    if (role === 'pass' || role === 'shared') return role;
    // A refused server reports what it asked for: it is nowhere else either.
    adopt(server as HttpServer, role === 'refused' ? () => requestedAddress(endpoint) : address);
    return role;
  };

  const mechanism: ListenMechanism = options.mechanism ?? (channelPublishesListen() ? 'channel' : 'patch');
  const dispose = mechanism === 'channel' ? captureByChannel(capture) : captureByPatch(capture);
  log.debug(
    `Listen capture: ${mechanism === 'channel' ? 'tracing:net.server.listen channel' : 'net.Server.prototype.listen wrapper'}`,
  );

  served = () => (state.main?.served ? state.main.server : undefined);
  onCloseAppServer(closeServedServer);
  active = {
    mechanism,
    get server() {
      return state.main?.served ? state.main.server : undefined;
    },
    whenListening() {
      if (state.main?.served) return Promise.resolve(state.main.server);
      return new Promise((resolve) => state.waiting.push(resolve));
    },
    servingExport() {
      state.exportServed = true;
      const { main } = state;
      if (!main?.served) return;
      main.served = false;
      log.warning(
        `The app module exports an app and also started its own server on ${describe(main.endpoint)}: kelpie serves the exported app on its binds and did not open ${describe(main.endpoint)}`,
      );
    },
    dispose() {
      dispose();
      active = undefined;
    },
  };
  return active;
}

/**
 * An app that clusters itself (`if (cluster.isPrimary) cluster.fork()`, throng): in a kelpie
 * worker its forks would start kelpie's worker entry, not the app. kelpie runs the processes
 * (-w N), so `cluster.fork()` throws an error that says so; the app's own server then runs in
 * kelpie's workers as in any other app. Once per process.
 */
export function refuseClusterFork(): void {
  const cluster = createRequire(import.meta.url)('node:cluster') as typeof import('node:cluster').default;
  if ((cluster.fork as { kelpie?: true }).kelpie) return;
  const refused = () => {
    throw new Error(
      'The app calls cluster.fork(): kelpie starts the worker processes itself (-w N, or WEB_CONCURRENCY). Run the code of the cluster workers directly, without the primary branch.',
    );
  };
  cluster.fork = Object.assign(refused, { kelpie: true as const }) as never;
}

/**
 * A graceful stop begins (HttpServers.drain): if the app's server that kelpie serves has
 * `upgrade` listeners (a WebSocket library is attached: socket.io, `ws`, Next.js), it is closed
 * as `server.close()` would close a server of its own, at once: `listening` becomes false and
 * `close` is emitted, the signal such libraries understand (engine.io, and so socket.io,
 * disconnects its clients and answers their polls). The app's own `close()` later calls back
 * without an error and emits nothing more. A server without upgrade listeners is left for the
 * app to close after the drain, as before: its `close` listeners are the app's own, which may
 * expect every request to be done (SPEC.md 1.11).
 */
export function closeServedServer(): void {
  const server = served();
  if (server && server.listenerCount('upgrade') > 0) STOPPERS.get(server)?.();
}
