import type { IncomingMessage, Server, ServerOptions } from 'node:http';
import type { Http2Session } from 'node:http2';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestListener } from '../app/app.js';
import type { Settings } from '../config/settings.js';
import { createServer, IncomingMessage as NodeIncomingMessage } from '../node-http.js';
import { type Logger, LogThrottle } from '../observability/logger.js';
import { ownServer } from './own-servers.js';
import { rejectRequest } from './parser-errors.js';
import { configureRequestInfo, defineRequestInfoGetter } from './request-info.js';
import { maxHeaderSize, refuseTunnel, withRequestLimits } from './request-limits.js';
import { type TlsMaterial, tlsServerOptions } from './tls.js';

/**
 * The server factory: one `node:http`, `node:https` or `node:http2` server for a listener,
 * configured from the settings (timeouts, keep-alive, header limits, --worker-connections), with
 * the request checks (request-limits.ts) before the handler and the parser-error answers
 * (parser-errors.ts) on `clientError`. Creating one also sets up `requestInfo` for its requests.
 */

// node:https and node:http2 are loaded when a server needs them: a plain HTTP worker does not pay
// their memory (about 2 MB of RSS together).
const requireBuiltin = createRequire(import.meta.url);
const httpsModule = () => requireBuiltin('node:https') as typeof import('node:https');
const http2Module = () => requireBuiltin('node:http2') as typeof import('node:http2');

/** A TLS server (https or http2): its connections are TLS sockets over the TCP ones. */
export function listenerIsTls(server: Server): boolean {
  return typeof (server as unknown as { addContext?: unknown }).addContext === 'function';
}

/**
 * Create the server for one listener, configured from the settings: `node:http`, `node:https`
 * with `tls`, or a `node:http2` secure server (HTTP/1.1 too, unless h1 is left out) when
 * --http-protocols names h2. Worker classes with their own server use this too.
 */
export function createConfiguredServer(
  settings: Settings,
  log: Logger,
  handler: RequestListener,
  extra: ServerOptions = {},
  tls?: TlsMaterial,
): Server {
  configureRequestInfo(settings);
  // `req[Symbol.for('kelpie.request-info')]`: set up here rather than when core is imported.
  defineRequestInfoGetter(NodeIncomingMessage.prototype);
  const limited = withRequestLimits(handler, settings, log);
  // --keep-alive 0 means no keep-alive (Node's keepAliveTimeout 0 would mean "never time out").
  const serve: RequestListener =
    settings.keepAlive === 0
      ? (req, res) => {
          res.shouldKeepAlive = false;
          return limited(req, res);
        }
      : limited;
  const httpOptions = {
    keepAliveTimeout: settings.keepAlive * 1000,
    // Gunicorn has no whole-request deadline; slow uploads are not cut off. The request head
    // has one (--header-timeout), checked every second.
    requestTimeout: 0,
    headersTimeout: settings.headerTimeout * 1000,
    connectionsCheckingInterval: 1000,
    // Checked below, so that the refusal is logged and closes the connection like the others.
    requireHostHeader: false,
    maxHeaderSize: maxHeaderSize(settings),
    noDelay: true,
    ...extra,
  };
  let server: Server;
  if (!tls) {
    server = createServer(httpOptions, serve);
  } else if (!settings.httpProtocols.includes('h2')) {
    server = httpsModule().createServer(
      { ...httpOptions, ...tlsServerOptions(tls, settings) },
      serve,
    ) as unknown as Server;
  } else {
    server = createHttp2Server(settings, tls, httpOptions, serve);
  }
  // Its listen binds as asked: never taken for the app's own (listen-capture.ts).
  ownServer(server);
  limitConnections(server, settings, log);
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => rejectRequest(error, socket, log));
  // Without a listener Node drops a CONNECT request's connection without a word.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => refuseTunnel(req, socket, log));
  return server;
}

/** --limit-request-fields as Node counts them, and --worker-connections with its drops logged. */
function limitConnections(server: Server, settings: Settings, log: Logger): void {
  // One more than allowed, so that a request over the limit is seen (Node drops the extras silently).
  server.maxHeadersCount = settings.limitRequestFields === 0 ? 0 : settings.limitRequestFields + 1;
  // Node closes connections beyond maxConnections right after accepting them. HttpServers' accept
  // gate stops accepting before that when it can; this remains for servers it cannot pause.
  server.maxConnections = settings.workerConnections;
  const drops = new LogThrottle(1000);
  server.on('drop', () => {
    const skipped = drops.take();
    if (skipped === undefined) return;
    log.warning(
      `Worker connection limit (${settings.workerConnections}) reached: closed ${skipped + 1} new connection(s)`,
    );
  });
}

/**
 * HTTP/2 over TLS, with HTTP/1.1 for clients that do not offer h2 (unless --http-protocols
 * leaves h1 out). HTTP/1.1 connections are served by Node's HTTP/1 code with the same options as
 * a plain server; the http2 server only takes them as properties.
 */
function createHttp2Server(
  settings: Settings,
  tls: TlsMaterial,
  httpOptions: ServerOptions & Record<string, unknown>,
  serve: RequestListener,
): Server {
  const http2 = http2Module();
  defineRequestInfoGetter(http2.Http2ServerRequest.prototype);
  const server = http2.createSecureServer(
    {
      ...tlsServerOptions(tls, settings),
      allowHTTP1: settings.httpProtocols.includes('h1'),
      ...(httpOptions.ServerResponse ? { Http1ServerResponse: httpOptions.ServerResponse } : {}),
      ...(httpOptions.IncomingMessage ? { Http1IncomingMessage: httpOptions.IncomingMessage } : {}),
      // Pseudo-headers count as fields: room for them beyond --limit-request-fields.
      maxHeaderListPairs: settings.limitRequestFields === 0 ? 4096 : settings.limitRequestFields + 5,
      // Gunicorn's http2_max_concurrent_streams default; Node's own is 2^32-1.
      settings: { maxHeaderListSize: maxHeaderSize(settings), maxConcurrentStreams: 100 },
    },
    serve as never,
  );
  const h1 = server as unknown as Record<string, unknown>;
  for (const name of [
    'keepAliveTimeout',
    'requestTimeout',
    'headersTimeout',
    'connectionsCheckingInterval',
    'maxHeaderSize',
  ]) {
    h1[name] = httpOptions[name];
  }
  // An idle HTTP/2 connection is closed like an idle keep-alive one (GOAWAY, then close).
  server.on('session', (session: Http2Session) => {
    if (settings.keepAlive > 0) session.setTimeout(settings.keepAlive * 1000, () => session.close());
  });
  return server as unknown as Server;
}
