import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { KelpieError } from '../errors.js';
import type { FetchHandler } from '../http/fetch-bridge.js';
import { usesWebSockets } from '../http/upgrade-refusal.js';
import { SHUTDOWN_CLOSE } from '../http/websocket-shutdown.js';
import { frameworkOf } from './adapter.js';
import {
  type AppInterface,
  decideInterface,
  hintingListener,
  hintingReporter,
  type InterfaceDecision,
  takesOwnContext,
} from './interface.js';

/** Re-exported: the predicate lives with the upgrade refusal it decides, in the HTTP layer. */
export { usesWebSockets };

/**
 * The app shapes kelpie accepts (SPEC.md, "App interface"), normalized to one Node request
 * listener that every worker class can serve.
 */

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => unknown;

export type AppKind =
  /** A Node request listener `(req, res)`: plain handlers, Express, Connect. */
  | 'listener'
  /** An object whose `callback()` returns a request listener: Koa. */
  | 'callback'
  /** A fetch handler `(request) => Response`, or an object with `fetch`: Hono, `export default { fetch }`. */
  | 'fetch'
  /** A framework app only its adapter can serve (Fastify); `listener` answers 500 until one does. */
  | 'framework'
  /** A server the app created and called `listen()` on (listen-capture.ts): its listeners are served. */
  | 'server';

/** Per-worker lifecycle hooks an app may provide. */
export interface AppHooks {
  /** Awaited in each worker after the app loads and before it serves. A throw is an app-load error. */
  startup?: () => unknown;
  /** Awaited in each worker after it stops serving during a graceful stop. */
  shutdown?: () => unknown;
}

/**
 * A WebSocket connection as the app sees it under `-k ws`. These are kelpie's own types, so core
 * needs no WebSocket library; the ws worker class passes objects of the `ws` package, which
 * have all of these members and more.
 */
export interface AppWebSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes queued to send and not yet written to the socket. */
  readonly bufferedAmount: number;
  readonly protocol: string;
  send(data: string | ArrayBuffer | ArrayBufferView, callback?: (error?: Error) => void): void;
  close(code?: number, reason?: string): void;
  /** Drop the connection at once, without a closing handshake. */
  terminate(): void;
}

/** What `websocket.upgrade()` may return to refuse a connection: an HTTP status, or a response. */
export type UpgradeRefusal = number | { status: number; headers?: Record<string, string>; body?: string };

/** Per-message handlers for WebSocket connections, served by `-k ws` (SPEC.md 1.7). */
export interface WebSocketHandlers {
  /** Decide on an upgrade request: return nothing to accept, or a refusal. A throw refuses with 500. */
  upgrade?(req: IncomingMessage): UpgradeRefusal | undefined | Promise<UpgradeRefusal | undefined>;
  open?(ws: AppWebSocket, req: IncomingMessage): unknown;
  /** `data` is a Buffer for text and binary messages alike (`isBinary` tells which). */
  message?(ws: AppWebSocket, data: Buffer, isBinary: boolean): unknown;
  close?(ws: AppWebSocket, code: number, reason: Buffer): unknown;
  error?(ws: AppWebSocket, error: Error): unknown;
}

/** A Node-style `'upgrade'` listener, for apps that handle the upgrade themselves. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

/**
 * The options of crossws (the WebSocket layer of h3, Nitro and Nuxt): its hooks, or a
 * `resolve(request)` that finds them per request. A Nitro or Nuxt node-listener build exports
 * them as `websocket`; the ws worker class serves them through crossws's node adapter.
 */
export interface CrosswsOptions {
  hooks?: object;
  resolve?: (...args: never[]) => unknown;
}

/** The WebSocket parts an app may define, each looked up on the app value, then among the module's exports. */
export interface AppWebSockets {
  websocket?: WebSocketHandlers;
  upgrade?: UpgradeListener;
  /** Called once per worker with each of its `http.Server`s, for libraries that attach to a server (socket.io). */
  attach?: (server: Server) => unknown;
  /** A `websocket` export holding crossws's options (Nitro, Nuxt, h3), for the ws class to serve. */
  crossws?: CrosswsOptions;
  /**
   * Close the connections of a WebSocket library the app exported (close 1001 to every client),
   * called when a worker that serves upgrades starts draining.
   */
  closeWebSockets?: () => unknown;
}

export interface App extends AppHooks, AppWebSockets {
  kind: AppKind;
  /** The request listener worker classes serve. */
  listener: RequestListener;
  /** The fetch handler itself, for worker classes that can use it without the Node bridge. */
  fetch?: FetchHandler;
  /** The value the app module exported (or its factory returned). */
  value: unknown;
}

export interface AppOptions {
  /** Errors a fetch handler throws or rejects with; the bridge answers 500. */
  onFetchError?: (error: unknown, req: IncomingMessage) => void;
  /** How a bare function is called (--interface, app/interface.ts); default auto. */
  interface?: AppInterface;
}

const isFunction = (value: unknown): value is (...args: unknown[]) => unknown => typeof value === 'function';

function hooksOf(...sources: unknown[]): AppHooks & AppWebSockets {
  const hooks: AppHooks & AppWebSockets = {};
  let served: AppWebSockets | undefined;
  for (const source of sources) {
    if (source === null || (typeof source !== 'object' && typeof source !== 'function')) continue;
    const { startup, shutdown, websocket, upgrade, attach } = source as Record<string, unknown>;
    if (!hooks.startup && isFunction(startup)) hooks.startup = startup.bind(source);
    if (!hooks.shutdown && isFunction(shutdown)) hooks.shutdown = shutdown.bind(source);
    if (!hooks.upgrade && upgrade != null) hooks.upgrade = reservedFunction('upgrade', upgrade, source);
    if (!hooks.attach && attach != null) hooks.attach = reservedFunction('attach', attach, source);
    if (!served && websocket != null) served = websocketOf(websocket);
  }
  // An `upgrade` listener anywhere comes before what `websocket` holds (SPEC.md 1.7).
  if (served?.upgrade && !hooks.upgrade) return { ...hooks, ...served };
  if (served?.websocket) hooks.websocket = served.websocket;
  if (served?.crossws) hooks.crossws = served.crossws;
  return hooks;
}

/** What kelpie's own `websocket` handlers are called; SPEC.md 1.7. */
export const WEBSOCKET_HANDLER_NAMES = ['upgrade', 'open', 'message', 'close', 'error'] as const;

const WEBSOCKET_INSTEAD =
  "Export websocket as kelpie's handlers ({ upgrade?, open, message, close, error }: SPEC.md 1.7), " +
  'upgrade(req, socket, head) for a library that does the handshake itself, or attach(server) for one that attaches to a server (socket.io).';

/** `upgrade` and `attach` must be functions: anything else under those names is refused, never ignored. */
function reservedFunction<T>(name: 'upgrade' | 'attach', value: unknown, source: unknown): T {
  if (isFunction(value)) return value.bind(source) as T;
  throw new KelpieError(
    'KELPIE_ERR_APP_EXPORT',
    `The app's ${name} is ${describeValue(value)}; kelpie reserves that name for ${name === 'upgrade' ? 'an upgrade listener (req, socket, head)' : 'a function called with each http.Server (server)'} (SPEC.md 1.10). ${WEBSOCKET_INSTEAD}`,
  );
}

/**
 * Recognize what an app exports as `websocket` (SPEC.md 1.7, by duck typing; core imports no
 * WebSocket library):
 *
 * - an object with `handleUpgrade(req, socket, head)` and no event emitter methods: a crossws
 *   node adapter (`crossws/adapters/node`), served through its own handleUpgrade, and its
 *   `closeAll(1001)` on drain;
 * - an object with a `resolve` function or a `hooks` object: crossws's options (what Nitro and
 *   Nuxt node-listener builds export), which the ws class serves with crossws's node adapter;
 * - an object with at least one of kelpie's handler names as a function: kelpie's handlers.
 *
 * Anything else (a `ws` WebSocketServer, an object with none of these) is refused with a
 * message that says what to export: it would accept connections and then do nothing.
 */
export function websocketOf(value: unknown): AppWebSockets {
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const refuse = (what: string) =>
    new KelpieError(
      'KELPIE_ERR_APP_EXPORT',
      `The app's websocket is ${what}, which kelpie cannot serve. ${WEBSOCKET_INSTEAD}`,
    );
  if (typeof value !== 'object' || value === null) throw refuse(describeValue(value));
  const { handleUpgrade, closeAll, resolve, hooks } = record;
  if (isFunction(handleUpgrade)) {
    // `ws`'s WebSocketServer has handleUpgrade(req, socket, head, callback) and emits `connection`.
    if (isFunction(record.on) || handleUpgrade.length > 3) {
      throw refuse(
        `${describeValue(value)} with handleUpgrade(req, socket, head, callback) (a ws WebSocketServer?). Call its handleUpgrade from an upgrade(req, socket, head) export, or export its connection handling as websocket handlers`,
      );
    }
    const served: AppWebSockets = {
      upgrade: (req, socket, head) => handleUpgrade.call(value, req, socket, head),
    };
    if (isFunction(closeAll))
      served.closeWebSockets = () => closeAll.call(value, SHUTDOWN_CLOSE.code, SHUTDOWN_CLOSE.reason);
    return served;
  }
  if (isFunction(resolve) || (typeof hooks === 'object' && hooks !== null)) return { crossws: value as CrosswsOptions };
  if (WEBSOCKET_HANDLER_NAMES.some((name) => isFunction(record[name]))) {
    return { websocket: value as WebSocketHandlers };
  }
  throw refuse(`${describeValue(value)}, with none of ${WEBSOCKET_HANDLER_NAMES.join(', ')} as a function`);
}

type FetchBridge = typeof import('./lazy-fetch-bridge.js');
let bridge: FetchBridge | undefined;

/**
 * What toApp() makes of a value, decided without calling anything on it and without the fetch
 * bridge: the one decision toApp() serves by and servesFetch() reads before the bridge is loaded,
 * so the two cannot disagree. A bare function carries decideInterface()'s decision on how it is
 * called; an object's `fetch` method needs none.
 */
type Shape =
  | { kind: 'listener'; decision: InterfaceDecision }
  | { kind: 'fetch'; decision?: InterfaceDecision }
  | { kind: 'callback' | 'framework' };

function shapeOf(value: unknown, options: AppOptions): Shape | undefined {
  if (isFunction(value)) {
    const decision = decideInterface(value, options.interface);
    return decision.interface === 'node' ? { kind: 'listener', decision } : { kind: 'fetch', decision };
  }
  if (value === null || typeof value !== 'object') return undefined;
  const candidate = value as { fetch?: unknown; callback?: unknown };
  if (isFunction(candidate.fetch)) return { kind: 'fetch' };
  if (isFunction(candidate.callback)) return { kind: 'callback' };
  if (frameworkOf(value)) return { kind: 'framework' };
  return undefined;
}

/**
 * Whether toApp() makes a fetch app of `value`: the fetch bridge must be loaded first
 * (loadFetchBridge()). A process serving a Node listener never loads the bridge.
 */
export function servesFetch(value: unknown, options: AppOptions = {}): boolean {
  return shapeOf(value, options)?.kind === 'fetch';
}

/** Load the fetch bridge (http/fetch-bridge.ts) once, before toApp() recognizes a fetch app. */
export async function loadFetchBridge(): Promise<void> {
  bridge ??= await import('./lazy-fetch-bridge.js');
}

function fetchBridge(): FetchBridge {
  if (!bridge) throw new Error('kelpie: a fetch app was recognized before loadFetchBridge() was awaited');
  return bridge;
}

/**
 * Recognize an app shape (shapeOf()). A bare function is a Node listener `(req, res)` or a fetch
 * handler `(request, ...context)` as `options.interface` says, or as decideInterface() finds
 * (SPEC.md 1.5.1). Objects are recognized by their `fetch` or `callback` method. Returns
 * undefined for anything else.
 */
export function toApp(value: unknown, options: AppOptions = {}, moduleHooks?: unknown): App | undefined {
  const hooks = hooksOf(value, moduleHooks);
  const shape = shapeOf(value, options);
  switch (shape?.kind) {
    case 'listener': {
      const { decision } = shape;
      const listener = decision.certain
        ? (value as RequestListener)
        : hintingListener(value as RequestListener, decision);
      return { kind: 'listener', listener, value, ...hooks };
    }
    case 'fetch': {
      const { listener, fetch } = fetchApp(value, shape.decision, options);
      return { kind: 'fetch', listener, fetch, value, ...hooks };
    }
    case 'callback': {
      const listener = (value as { callback: () => unknown }).callback();
      if (!isFunction(listener)) return undefined;
      return { kind: 'callback', listener: listener as RequestListener, value, ...hooks };
    }
    case 'framework':
      return { kind: 'framework', listener: needsAdapter, value, ...hooks };
    default:
      return undefined;
  }
}

/** A fetch app's handler and the bridge's listener for it: a bare function (`decision`) or an object's `fetch`. */
function fetchApp(
  value: unknown,
  decision: InterfaceDecision | undefined,
  options: AppOptions,
): { listener: RequestListener; fetch: FetchHandler } {
  let fetch: FetchHandler;
  if (!decision) fetch = (value as { fetch: FetchHandler }).fetch.bind(value);
  // React Router's handler makes its own context when given none; kelpie's would be refused.
  else if (takesOwnContext(value as FetchHandler)) fetch = (request) => (value as FetchHandler)(request);
  else fetch = value as FetchHandler;
  const onError =
    !decision || decision.certain
      ? options.onFetchError
      : hintingReporter(options.onFetchError ?? fetchBridge().logToStderr, decision);
  return { listener: fetchBridge().createFetchListener(fetch, onError ? { onError } : {}), fetch };
}

/**
 * The app of a server the app module started itself: each request and upgrade kelpie's servers
 * receive is emitted on it, so its own listeners (the framework, socket.io, `ws`) run as if it
 * had accepted the connection. The module's exported hooks apply as for any app.
 */
export function serverApp(server: Server, moduleHooks?: unknown): App {
  // Upgrades are the server's own listeners', not exported handlers'.
  const { startup, shutdown, attach } = hooksOf(moduleHooks);
  const listener: RequestListener = (req, res) => {
    if (server.emit('request', req, res)) return;
    res.statusCode = 500;
    res.end("The app's server has no request listener.\n");
  };
  const app: App = { startup, shutdown, attach, kind: 'server', listener, value: server };
  if (server.listenerCount('upgrade') > 0) {
    app.upgrade = (req, socket, head) => server.emit('upgrade', req, socket, head);
  }
  return app;
}

/**
 * A module that exports WebSocket parts (`attach`, `upgrade`, `websocket`) and no HTTP app: a
 * socket.io server `attach`ed, for instance. Plain HTTP requests that no library takes are
 * answered 404. Undefined when the module exports none of them.
 */
export function webSocketOnlyApp(moduleHooks: unknown): App | undefined {
  const hooks = hooksOf(moduleHooks);
  if (!usesWebSockets(hooks)) return undefined;
  return { ...hooks, kind: 'listener', listener: notFound, value: moduleHooks };
}

const notFound: RequestListener = (_req, res) => {
  res.statusCode = 404;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end('Not Found\n');
};

/** The listener of a framework app no adapter has taken over (applyAdapter refuses to serve it). */
const needsAdapter: RequestListener = (_req, res) => {
  res.statusCode = 500;
  res.end('This app needs its kelpie adapter.\n');
};

/** Whether toApp would accept the value, without calling anything on it. */
export function isAppShape(value: unknown): boolean {
  // A function is one whichever way it is called: its interface is not decided here.
  return isFunction(value) || shapeOf(value, {}) !== undefined;
}

/** A short description of a value for error messages: "function (1 parameter)", "object with keys a, b". */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (isFunction(value)) {
    const params = value.length === 1 ? 'parameter' : 'parameters';
    return `function${value.name ? ` ${value.name}` : ''} (${value.length} ${params})`;
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    return keys.length
      ? `object with keys ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''}`
      : 'empty object';
  }
  return typeof value;
}

export const ACCEPTED_SHAPES =
  'a Node request listener (req, res) such as an Express or Connect app; an object with callback() such as a Koa app; ' +
  'a fetch handler (request, ...context) => Response (see --interface); an object with a fetch(request) method such as a Hono app; ' +
  'or a Fastify instance (served through @kelpie/adapter-fastify)';
