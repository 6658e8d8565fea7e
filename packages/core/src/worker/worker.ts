import type { Socket } from 'node:net';
import { applyAdapter } from '../app/adapter.js';
import type { App } from '../app/app.js';
import { refuseClusterFork, startListenCapture } from '../app/listen-capture.js';
import { loadApp } from '../app/loader.js';
import { runHookNow, type ServerHooks, type WorkerProcessView } from '../config/hooks.js';
import type { Settings } from '../config/settings.js';
import { KelpieError } from '../errors.js';
import { dropUntrustedForwarding, trustFunction } from '../http/forwarded.js';
import { upgradedConnectionsClosed } from '../http/http-server.js';
import type { InheritedListener } from '../ipc/protocol.js';
import type { ReadAhead } from '../ipc/read-ahead.js';
import type { Logger } from '../observability/logger.js';
import { type RequestStats, requestStats } from '../observability/stats.js';
import type { HeldConnection } from './held-connection.js';
import { maxRequestsShare, RequestCount } from './request-count.js';

/**
 * The worker contract (SPEC.md, "Worker contract"). A worker class extends `Worker`, declares
 * `static meta`, and implements `serve()` and `drain()`. Core drives the lifecycle in the worker
 * process: construct → load() → serve() → heartbeat … → drain(), unload(), the app's own
 * shutdown and drainUpgraded() on TERM, or close() on QUIT/INT, then exit.
 */

export interface WorkerMeta {
  /** The short name users pass to `-k` (`async`). */
  name: string;
  /** The worker package's version. */
  version: string;
  /** The semver range of @kelpie/core this class works with (`^0.1.0`). */
  core: string;
  /** One line for logs and docs. */
  description?: string;
}

/** What a worker can ask of core and the arbiter; worker/runtime.ts provides it. */
export interface WorkerChannel {
  /**
   * `accept = 'arbiter'` classes: the worker can take `count` more connections. The arbiter hands
   * each one to `connection()`; it never sends more than was asked for. `hold` (given once, it
   * stands; 0 until given, at most 16): with that many credits or fewer left the worker is serving,
   * and a connection sent then is one to hold (`hold()`), sent only when no worker has more left.
   */
  requestConnections(count: number, hold?: number): void;
  /**
   * A new descriptor of listening socket `index`, owned by the caller, who closes it (worker
   * threads that each accept on their own descriptor; closing one never closes the others).
   */
  duplicateListener(index: number): Promise<number>;
  /** --max-requests reached: core stops this worker gracefully and the arbiter starts another. */
  maxRequestsReached(): void;
}

export interface WorkerContext {
  settings: Settings;
  log: Logger;
  /** Spawn counter; lower is older. */
  age: number;
  /** The APP_MODULE text, for worker classes that load the app themselves (threads). */
  appModule: string;
  /** Folder APP_MODULE is resolved from. */
  cwd: string;
  /** Listening sockets inherited from the arbiter. */
  listeners: readonly InheritedListener[];
  channel: WorkerChannel;
  /** Folders plugins (adapters) are looked up from: the project, then kelpie's own install. */
  searchFrom: readonly string[];
  /** The config file's server hooks that run in workers (empty without a config file). */
  hooks?: ServerHooks;
  /** The config file in effect, for classes that load the app elsewhere and need its hooks there. */
  configFile?: string;
}

/**
 * Who accepts connections. `worker` (the default): every worker process accepts on the inherited
 * listening sockets and the kernel spreads connections. `arbiter`: the arbiter accepts and hands
 * each connection to a worker that asked for one (`requestConnections`), so a busy worker is
 * never given a connection while another is idle.
 */
export type AcceptMode = 'worker' | 'arbiter';

/** Marks worker classes across copies of core (an ESM and a CJS build are distinct classes). */
export const WORKER_BRAND: unique symbol = Symbol.for('kelpie.worker-class') as never;

export abstract class Worker {
  static readonly [WORKER_BRAND] = true;
  /** Each worker class must declare its own. */
  static meta: WorkerMeta;
  /** Who accepts connections for this class; see AcceptMode. */
  static accept: AcceptMode = 'worker';
  /**
   * An `accept = 'worker'` class that serves --sticky: it then accepts nothing on the shared
   * sockets itself and takes each connection the arbiter sends in `connection()` (HttpServers
   * does both: `listen()` and `take()`).
   */
  static sticky = false;

  readonly settings: Settings;
  readonly log: Logger;
  readonly age: number;
  readonly appModule: string;
  readonly cwd: string;
  readonly listeners: readonly InheritedListener[];
  readonly channel: WorkerChannel;
  readonly searchFrom: readonly string[];
  readonly hooks: ServerHooks;
  readonly configFile: string | undefined;
  /** This worker's share: --max-requests plus a random part of --max-requests-jitter; 0 is no limit. */
  readonly maxRequests: number;
  /**
   * The requests this worker has started, against `maxRequests` (request-count.ts). A class that
   * serves in other threads shares it with them: `requestCount.share()`.
   */
  protected readonly requestCount: RequestCount;
  #app: App | undefined;

  constructor(context: WorkerContext) {
    this.settings = context.settings;
    this.log = context.log;
    this.age = context.age;
    this.appModule = context.appModule;
    this.cwd = context.cwd;
    this.listeners = context.listeners;
    this.channel = context.channel;
    this.searchFrom = context.searchFrom;
    this.hooks = context.hooks ?? {};
    this.configFile = context.configFile;
    this.maxRequests = maxRequestsShare(context.settings);
    this.requestCount = new RequestCount(this.maxRequests, () => this.channel.maxRequestsReached());
  }

  /** Requests this worker has started handling (for --max-requests and status), in every thread. */
  get requests(): number {
    return this.requestCount.value;
  }

  /** For a class that keeps the count itself (and calls `channel.maxRequestsReached()` itself). */
  set requests(count: number) {
    this.requestCount.value = count;
  }

  /** Count a request that starts now; at this worker's --max-requests share, ask core to recycle it. */
  protected countRequest(): void {
    this.requestCount.add();
  }

  /** The loaded app; available once load() has run. */
  get app(): App {
    if (!this.#app) throw new Error('the app is not loaded yet: call load() before serve()');
    return this.#app;
  }

  /**
   * Load APP_MODULE in this process and run the app's startup hook. Worker classes that run the
   * app somewhere else (in threads) override this. Any error is an app-load error (exit 4).
   */
  async load(): Promise<void> {
    this.#app = await startApp(this.appModule, this.cwd, this.log, this.settings, this.searchFrom, {
      requestHooks: { hooks: this.hooks, view: () => this.view() },
      urls: this.listeners.map((listener) => listener.url),
    });
  }

  /** What worker hooks see of this worker. */
  view(): WorkerProcessView {
    return { pid: process.pid, age: this.age, settings: this.settings, log: this.log, requests: this.requests };
  }

  /** Start accepting on every inherited listener; resolve once the worker serves. */
  abstract serve(): Promise<void>;

  /**
   * Graceful stop: stop accepting, let in-flight requests finish, close idle connections, give
   * libraries that manage upgraded connections their signal (`HttpServers.drain()` does all of
   * this); resolve when no request is left. Upgraded connections (WebSockets) may stay open:
   * drainUpgraded() waits for them after the app's shutdown, which may be what closes them.
   * Core enforces --graceful-timeout around the whole stop.
   */
  abstract drain(): Promise<void>;

  /** After drain(): run the app's shutdown hook. */
  async unload(): Promise<void> {
    await this.#app?.shutdown?.();
  }

  /**
   * Last step of a graceful stop, after unload() and the app's own shutdown: resolve when the
   * connections upgraded away from HTTP (WebSockets), which drain() does not wait for, are closed.
   * The base waits for those of every `HttpServers` in this process; a class that holds
   * upgraded connections elsewhere overrides it. Core bounds it with --graceful-timeout.
   */
  async drainUpgraded(): Promise<void> {
    await upgradedConnectionsClosed();
  }

  /**
   * The request statistics the heartbeat reports (in flight, by status): those `HttpServers`
   * keeps in this thread. A class that serves requests elsewhere (its threads) sums theirs.
   */
  requestStats(): RequestStats {
    return requestStats();
  }

  /** Quick stop: drop every connection now. The process exits right after. */
  close(): void {}

  /**
   * USR1: log files of this process were opened again (`reopenLogFiles()`); a class with log
   * files elsewhere (its threads) reopens those here. Optional.
   */
  reopenLogs(): void {}

  /**
   * `accept = 'arbiter'` classes that said they hold (`requestConnections(count, hold)`): one the
   * arbiter sent while this worker serves another (no worker was idle). It is unread; core keeps
   * it, in order, until the class starts it when it is free (`held.start()` or
   * `HeldConnection.startOldest()` hand it to `connection()`), or gives it back (`held.release()`,
   * `HeldConnection.releaseAll()`, and every one not started when the arbiter sends
   * `kelpie:release`). By default it starts at once.
   */
  hold(held: HeldConnection): void {
    held.start();
  }

  /**
   * `accept = 'arbiter'` classes: a connection the arbiter accepted on `listener`, sent because
   * this worker asked with `channel.requestConnections()`. It has not been read from yet.
   * `sticky` classes under --sticky: a connection the arbiter chose this worker for; `read` is
   * what the arbiter read of it first (a PROXY header, and the bytes after it), if anything.
   */
  connection(socket: Socket, listener: InheritedListener, _read?: ReadAhead): void {
    socket.destroy();
    this.log.error(
      `Worker class ${(this.constructor as WorkerClass).meta?.name} was sent a connection from ${listener.url} but does not take them (accept = 'worker')`,
    );
  }
}

/** What `startApp` needs beyond the settings. */
export interface StartAppOptions {
  /** The config file's preRequest and postRequest hooks, run around each request. */
  requestHooks?: { hooks: ServerHooks; view: () => WorkerProcessView };
  /**
   * kelpie's listener URLs where the app runs: an app that starts its own server is served on
   * them, and its `server.address()` reports the first (listen-capture.ts).
   */
  urls?: readonly string[];
}

/**
 * Load APP_MODULE and run its startup hook, logging request errors of fetch apps to `log`: what
 * `Worker.load()` does, for worker classes that load the app elsewhere (each thread of -k threads).
 * Listens of the app's own servers are captured from before the import on (SPEC.md 1.11).
 * Errors are KelpieErrors with app-load codes (exit 4).
 */
export async function startApp(
  appModule: string,
  cwd: string,
  log: Logger,
  settings: Settings,
  searchFrom: readonly string[],
  options: StartAppOptions = {},
): Promise<App> {
  refuseClusterFork();
  const forced = process.env.KELPIE_LISTEN_CAPTURE;
  if (forced && forced !== 'channel' && forced !== 'patch') {
    log.warning(`KELPIE_LISTEN_CAPTURE="${forced}" is not channel or patch; using the default`);
  }
  const capture = startListenCapture({
    log,
    urls: options.urls ?? [],
    extraListen: settings.extraListen,
    ...(forced === 'channel' || forced === 'patch' ? { mechanism: forced } : {}),
  });
  const loaded = await loadApp(appModule, cwd, {
    onFetchError: (error, req) => log.error(`Error handling request ${req.method} ${req.url}`, error),
    interface: settings.interface,
    capture,
    listenWait: settings.timeout > 0 ? settings.timeout : 30,
    log,
    asMain: true,
  });
  const adapted =
    loaded.kind === 'server'
      ? withoutUntrustedForwarding(loaded, trustFunction(settings.forwardedAllowIps))
      : await applyAdapter(loaded, settings, log, searchFrom);
  // Before the app is wrapped: an adapter's startup may give it its upgrade listener (adapter.ts).
  if (adapted.startup) {
    try {
      await adapted.startup();
    } catch (error) {
      throw new KelpieError('KELPIE_ERR_APP_HOOK', `The app's startup hook threw: ${String(error)}`, {
        cause: error,
      });
    }
  }
  const { requestHooks } = options;
  return requestHooks ? withRequestHooks(adapted, requestHooks.hooks, requestHooks.view, log) : adapted;
}

/**
 * An app's own server trusts its framework's settings, which kelpie leaves alone (`trust proxy`,
 * SvelteKit's PROTOCOL_HEADER, Next.js reading X-Forwarded-Host): forwarded headers from peers
 * outside --forwarded-allow-ips are removed before it sees a request or an upgrade, as adapters do.
 */
function withoutUntrustedForwarding(app: App, trusted: (address: string | undefined) => boolean): App {
  const { listener, upgrade } = app;
  const served: App = {
    ...app,
    listener: (req, res) => {
      dropUntrustedForwarding(req, trusted);
      return listener(req, res);
    },
  };
  if (upgrade) {
    served.upgrade = (req, socket, head) => {
      dropUntrustedForwarding(req, trusted);
      return upgrade(req, socket, head);
    };
  }
  return served;
}

/** The app with the config file's preRequest and postRequest hooks around its listener. */
function withRequestHooks(app: App, hooks: ServerHooks, view: () => WorkerProcessView, log: Logger): App {
  if (typeof hooks.preRequest !== 'function' && typeof hooks.postRequest !== 'function') return app;
  const inner = app.listener;
  const listener: App['listener'] = (req, res) => {
    runHookNow(hooks, 'preRequest', log, view(), req);
    if (hooks.postRequest) res.once('finish', () => runHookNow(hooks, 'postRequest', log, view(), req, res));
    return inner(req, res);
  };
  return { ...app, listener };
}

/** The class side of the contract, as the arbiter and worker process see it. */
export interface WorkerClass {
  readonly meta: WorkerMeta;
  /** Absent means 'worker'. */
  readonly accept?: AcceptMode;
  /** Takes connections from the arbiter under --sticky (see Worker.sticky); absent means no. */
  readonly sticky?: boolean;
  /** Arbiter side, before any worker starts: refuse settings this class cannot honour. */
  checkConfig?(settings: Settings, log: Logger): void;
  new (context: WorkerContext): Worker;
}

/** Whether a value looks like a worker class (brand, or a prototype with serve and drain). */
export function isWorkerClass(value: unknown): value is WorkerClass {
  if (typeof value !== 'function') return false;
  const proto = (value as { prototype?: Record<string, unknown> }).prototype;
  const branded = (value as unknown as Record<symbol, unknown>)[WORKER_BRAND] === true;
  return branded || (typeof proto?.serve === 'function' && typeof proto?.drain === 'function');
}
