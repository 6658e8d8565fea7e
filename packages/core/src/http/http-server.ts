import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Http2ServerRequest, Http2Session } from 'node:http2';
import { createRequire } from 'node:module';
import { createServer as createNetServer, Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AppWebSockets, RequestListener, UpgradeListener, UpgradeRefusal } from '../app/app.js';
import { closeServedServer, ownServer } from '../app/listen-capture.js';
import type { Settings } from '../config/settings.js';
import type { InheritedListener } from '../ipc/protocol.js';
import type { ReadAhead } from '../ipc/read-ahead.js';
import { accessLogger } from '../observability/access-log.js';
import { type Logger, LogThrottle } from '../observability/logger.js';
import { requestCounter, requestStats } from '../observability/stats.js';
import { statsdClient, statsdObserver } from '../observability/statsd.js';
import { AcceptGate, type AcceptGateOptions } from '../worker/accept-gate.js';
import {
  authorityConflict,
  forbiddenTrailer,
  isKnownMethod,
  methodAt,
  repeatedSingleton,
  targetProblem,
  unknownMethodStatus,
} from './fields.js';
import { UNIX_PEER } from './forwarded.js';
import { applyProxyHeader, inheritProxyHeader, proxyHeaderReader } from './proxy-protocol.js';
import { configureRequestInfo, defineRequestInfoGetter, forwardedScheme } from './request-info.js';
import { watchSendProgress } from './send-timeout.js';
import { type TlsMaterial, tlsServerOptions } from './tls.js';

const netServerClose = NetServer.prototype.close;

// node:https and node:http2 are loaded when a server needs them: a plain HTTP worker does not pay
// their memory (about 2 MB of RSS together).
const requireBuiltin = createRequire(import.meta.url);
const httpsModule = () => requireBuiltin('node:https') as typeof import('node:https');
const http2Module = () => requireBuiltin('node:http2') as typeof import('node:http2');

/** A TLS server (https or http2): its connections are TLS sockets over the TCP ones. */
function listenerIsTls(server: Server): boolean {
  return typeof (server as unknown as { addContext?: unknown }).addContext === 'function';
}

/**
 * The HTTP serving every worker class shares: server options from the settings, listening on
 * inherited sockets, errors in handlers turned into 500s, malformed requests into 4xx with a log
 * line, and a graceful drain that finishes in-flight requests and closes keep-alive connections.
 * Worker classes differ in how they run the app, not in this.
 */

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
   * Handles `Upgrade:` requests (WebSocket). Without it, Node closes such connections; worker
   * classes without WebSocket support pass `refuseUpgrades()` for apps that use WebSockets.
   */
  upgrade?: UpgradeListener;
  /**
   * How this worker stops and resumes accepting (accept-gate.ts): `duplicateListener` (the
   * channel's) lets a worker at --worker-connections leave new connections in the backlog instead
   * of accepting and closing them; a class may add its own accept policy.
   */
  accept?: Pick<AcceptGateOptions, 'duplicateListener' | 'onAccept' | 'onChange'>;
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
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => rejectRequest(error, socket, log));
  // Without a listener Node drops a CONNECT request's connection without a word.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => refuseTunnel(req, socket, log));
  return server;
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

const CLIENT_ERROR_STATUS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/**
 * The status for a parser error: its code's, else 400; a transfer coding other than chunked is
 * 501, as in Gunicorn, and so is a well-formed method Node's parser does not know (RFC 9110 9.1).
 */
function clientErrorStatus(error: NodeJS.ErrnoException & { bytesParsed?: number; rawPacket?: Buffer }): number {
  if (error.code === 'HPE_INVALID_TRANSFER_ENCODING' && /Request has invalid `Transfer-Encoding`/.test(error.message)) {
    return 501;
  }
  if (error.code === 'HPE_INVALID_METHOD' && error.rawPacket) {
    const method = methodAt(error.rawPacket, error.bytesParsed ?? 0);
    return method === undefined ? 400 : unknownMethodStatus(method);
  }
  return CLIENT_ERROR_STATUS[error.code ?? ''] ?? 400;
}

/** The parser's buffer for a request head: what the line and field limits allow together. */
function maxHeaderSize(settings: Settings): number {
  const line = settings.limitRequestLine || 65536;
  const fields = settings.limitRequestFields || 32768;
  const size = settings.limitRequestFieldSize || 65536;
  return Math.min(line + 2 + fields * (size + 2) + 2, 16 * 1024 * 1024);
}

/**
 * Set on an HTTP/1 connection whose last response is decided: a refusal, a parse error, or a
 * response without keep-alive. Requests the client pipelined behind it are parsed by Node all
 * the same, but none reaches the app (RFC 9112 9.6: no further request is processed), and no
 * second refusal is written.
 */
const CLOSING = Symbol('kelpie.closing');
type ClosingSocket = { [CLOSING]?: true };

/** An HTTP/2 request (Node's compatibility API) rather than an HTTP/1 one. */
const isHttp2 = (req: IncomingMessage): boolean => 'stream' in req;

/** Answer a request that broke a limit: status, a short reason, Connection: close; log it; never call the app. */
function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  reason: string,
  log: Logger,
  cancel = false,
): void {
  log.warning(`Invalid request from ip=${req.socket.remoteAddress ?? '-'}: ${reason}`);
  const h2 = isHttp2(req);
  if (!h2) (req.socket as ClosingSocket)[CLOSING] = true;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${STATUS_CODES[status]}: ${reason}\n`;
  res.shouldKeepAlive = false;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    // HTTP/2 has no Connection header: the stream ends, the connection serves on.
    ...(h2 ? {} : { connection: 'close' }),
  });
  res.end(body);
  // Whatever body is still coming is not read.
  res.once('finish', () => endExchange(req, cancel));
}

/** RST_STREAM's CANCEL (http2.constants.NGHTTP2_CANCEL; node:http2 is only loaded for HTTP/2 servers). */
const NGHTTP2_CANCEL = 8;

/**
 * Stop reading a refused request: close the connection (HTTP/1) or only its stream (HTTP/2),
 * with NO_ERROR (RFC 9113 8.1: the response is complete, stop sending) or, for a request the app
 * is already reading (`cancel`), CANCEL, so the app sees it aborted rather than a body that ends.
 */
function endExchange(req: IncomingMessage, cancel = false): void {
  if (isHttp2(req)) (req as unknown as Http2ServerRequest).stream.close(cancel ? NGHTTP2_CANCEL : 0);
  else req.socket.destroySoon?.();
}

interface Refusal {
  status: number;
  reason: string;
}

const refusal = (status: number, reason: string): Refusal => ({ status, reason });

/**
 * Why a request is refused before the app sees it, or undefined: its version, Host, transfer
 * codings, method and target, repeated fields (fields.ts), contradictory scheme headers,
 * --limit-request-line (414), --limit-request-fields and --limit-request-field_size (431), and a
 * Content-Length over --limit-request-body (413). For HTTP/1 and HTTP/2 requests and upgrades.
 */
function requestChecks(settings: Settings): (req: IncomingMessage) => Refusal | undefined {
  const { limitRequestLine, limitRequestFields, limitRequestFieldSize, limitRequestBody } = settings;
  return (req) => {
    // HTTP/2 requests only come from the http2 server (--http-protocols h2): version 2 is fine there.
    const h2 = req.httpVersionMajor === 2 && isHttp2(req);
    if (req.httpVersionMajor !== 1 && !h2) return refusal(400, `unsupported HTTP version ${req.httpVersion}`);
    if (req.httpVersionMinor === 1 && req.headers.host === undefined) {
      return refusal(400, 'HTTP/1.1 request without a Host header');
    }
    const method = req.method ?? '';
    // An HTTP/2 CONNECT has no :path.
    const url = req.url ?? '';
    if (url.charCodeAt(0) !== 0x2f) {
      const problem = targetProblem(method, url);
      if (problem) return refusal(400, problem);
    }
    const te = req.headers['transfer-encoding'];
    if (te !== undefined) {
      // Node joins repeated fields with ", ". Only chunked is implemented, once and last.
      const codings = te.split(',').map((coding) => coding.trim().toLowerCase());
      const chunked = codings.filter((coding) => coding === 'chunked').length;
      if (chunked > 1) return refusal(400, `Transfer-Encoding names chunked twice: ${te}`);
      if (chunked === 1 && codings.at(-1) !== 'chunked')
        return refusal(400, `chunked is not the last Transfer-Encoding: ${te}`);
      const other = codings.find((coding) => coding !== 'chunked');
      if (other !== undefined) return refusal(501, `unsupported transfer coding "${other}"`);
      // RFC 9112 6.1: chunked is HTTP/1.1's; an HTTP/1.0 peer on the way would frame the body differently.
      if (req.httpVersionMinor === 0 && !h2) return refusal(400, 'chunked body in an HTTP/1.0 request');
    }
    const raw = req.rawHeaders;
    const repeated = repeatedSingleton(raw);
    if (repeated !== undefined) return refusal(400, `${repeated} header repeated`);
    if (h2) {
      // Node's HTTP/1 parser knows its methods; HTTP/2 passes any token, so the same list is applied here.
      if (method === 'CONNECT') return refusal(501, 'CONNECT is not served (kelpie is not a proxy)');
      if (!isKnownMethod(method)) return refusal(unknownMethodStatus(method), `unknown method ${method}`);
      const conflict = authorityConflict(raw);
      if (conflict) return refusal(400, conflict);
    }
    // A trusted proxy's scheme headers that disagree (Gunicorn: InvalidSchemeHeaders).
    if (forwardedScheme(req) === 'conflict') return refusal(400, 'contradictory scheme headers from a trusted proxy');
    if (limitRequestLine > 0) {
      const line = method.length + 1 + url.length + 1 + 5 + req.httpVersion.length;
      if (line > limitRequestLine) {
        return refusal(414, `request line of ${line} bytes is over --limit-request-line ${limitRequestLine}`);
      }
    }
    // HTTP/2 pseudo-headers (:method, :path...) are not header fields.
    const fields = h2 ? raw.filter((name, i) => i % 2 === 0 && !name.startsWith(':')).length : raw.length / 2;
    if (limitRequestFields > 0 && fields > limitRequestFields) {
      return refusal(431, `more than ${limitRequestFields} header fields (--limit-request-fields)`);
    }
    if (limitRequestFieldSize > 0) {
      for (let i = 0; i < raw.length; i += 2) {
        // Header strings are decoded as latin1: one character per byte.
        const size = (raw[i] as string).length + 2 + (raw[i + 1] as string).length;
        if (size > limitRequestFieldSize) {
          return refusal(
            431,
            `header field ${raw[i]} of ${size} bytes is over --limit-request-field_size ${limitRequestFieldSize}`,
          );
        }
      }
    }
    if (limitRequestBody > 0) {
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > limitRequestBody) {
        return refusal(413, `body of ${length} bytes is over --limit-request-body ${limitRequestBody}`);
      }
    }
    return undefined;
  };
}

/**
 * The checks of `requestChecks`, then the app. A request pipelined behind one whose answer
 * closes the connection is dropped unseen. A chunked or HTTP/2 body is watched as it comes
 * (--limit-request-body, forbidden trailer fields).
 */
function withRequestLimits(handler: RequestListener, settings: Settings, log: Logger): RequestListener {
  const check = requestChecks(settings);
  const { limitRequestBody } = settings;
  return (req, res) => {
    const socket = req.socket as Socket & ClosingSocket;
    if (socket[CLOSING]) return;
    const refused = check(req);
    if (refused) return refuse(req, res, refused.status, refused.reason, log);
    if (req.headers['transfer-encoding'] !== undefined) watchBody(req, res, limitRequestBody, log);
    else if (isHttp2(req) && !(req as unknown as Http2ServerRequest).stream.endAfterHeaders) {
      // An HTTP/2 body's length need not be announced; trailers may follow it.
      watchBody(req, res, Number(req.headers['content-length'] ?? 0) === 0 ? limitRequestBody : 0, log);
    }
    handler(req, res);
    // The answer closes the connection (Connection: close, HTTP/1.0, --keep-alive 0, a drain).
    if (res.shouldKeepAlive === false) socket[CLOSING] = true;
  };
}

/**
 * A chunked or HTTP/2 body: count what the parser pushes (past `limit`, when set: 413) and look
 * at the trailer when the body ends (a forbidden field: 400). Either way the app's request never
 * ends normally: the rest of the body, its end included, is not passed on, and the connection
 * (HTTP/1) or stream (HTTP/2, CANCEL) is closed once the refusal is sent, so the app sees an
 * aborted request. An app that has already answered sees the same; its client sees the
 * connection or stream close.
 */
function watchBody(req: IncomingMessage, res: ServerResponse, limit: number, log: Logger): void {
  let total = 0;
  const push = req.push;
  const stop = (status: number, reason: string): boolean => {
    req.push = () => true;
    refuse(req, res, status, reason, log, true);
    if (!isHttp2(req)) endExchange(req);
    return false;
  };
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) {
      // Node sets the trailer fields just before it ends the body.
      const forbidden = this.rawTrailers.length > 0 ? forbiddenTrailer(this.rawTrailers) : undefined;
      if (forbidden !== undefined) return stop(400, `${forbidden} in the trailer`);
    } else if (limit > 0 && chunk !== undefined) {
      total += (chunk as { length: number }).length;
      if (total > limit) {
        return stop(413, `${isHttp2(req) ? 'body' : 'chunked body'} passed --limit-request-body ${limit} bytes`);
      }
    }
    return push.call(this, chunk, encoding);
  } as typeof req.push;
}

/**
 * For `upgrade` listeners (WebSocket): the same checks as for requests; a refused upgrade is
 * answered on the socket and closed, and the listener never sees it.
 */
function checkedUpgrade(listener: UpgradeListener, settings: Settings, log: Logger): UpgradeListener {
  const check = requestChecks(settings);
  return (req, socket, head) => {
    const refused = check(req);
    if (refused) refuseOnSocket(req, socket, refused, log);
    else listener(req, socket, head);
  };
}

/** CONNECT over HTTP/1 (Node hands it to a `connect` listener, never to the app): 501. */
function refuseTunnel(req: IncomingMessage, socket: Duplex, log: Logger): void {
  refuseOnSocket(req, socket, refusal(501, 'CONNECT is not served (kelpie is not a proxy)'), log);
}

/** A request whose socket Node handed over (an upgrade, CONNECT): the refusal is written there, and it closes. */
function refuseOnSocket(req: IncomingMessage, socket: Duplex, { status, reason }: Refusal, log: Logger): void {
  log.warning(`Invalid request from ip=${req.socket.remoteAddress ?? '-'}: ${reason}`);
  writeUpgradeRefusal(socket, { status, body: `${STATUS_CODES[status]}: ${reason}\n` });
}

/**
 * Run `then` once every response before the one to a request that failed to parse is sent
 * (RFC 9112 9.3.2: a pipelined request's error must not overtake the answers to those before
 * it). `failing` is the request whose body failed, if the error is in a body; its own response
 * gives way to the refusal if it has not started, and the connection is closed if it has.
 */
function afterEarlierResponses(socket: HttpSocket, failing: IncomingMessage | undefined, then: () => void): void {
  if (socket.destroyed || !socket.writable) return;
  const res = socket._httpMessage;
  if (!res) {
    then();
    return;
  }
  if (failing !== undefined && res.req === failing) {
    if (res.headersSent) socket.destroy();
    else then();
    return;
  }
  // Node's own 'finish' listener, added first, has handed the socket to the next response by now.
  res.once('finish', () => afterEarlierResponses(socket, failing, then));
}

/**
 * A request the parser refused: answer 4xx with the reason (after the answers to the requests
 * before it), log a warning, close. The worker serves on.
 */
function rejectRequest(error: NodeJS.ErrnoException, socket: Socket, log: Logger): void {
  // Plain HTTP sent to the TLS port: answered in plain HTTP on the TCP socket underneath, as
  // nginx does, so a misconfigured client or proxy sees why instead of a reset.
  const raw = (socket as Socket & { _parent?: Socket | null })._parent;
  if (error.code === 'ERR_SSL_HTTP_REQUEST' && raw?.writable) {
    log.warning(`Plain HTTP request sent to the TLS port from ip=${socket.remoteAddress ?? '-'}`);
    const body = 'Bad Request: this port speaks HTTPS; the request came in plain HTTP.\n';
    raw.end(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    return;
  }
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // A TLS handshake that failed or timed out: no HTTP can be written on that socket.
  if (/^ERR_(TLS|SSL)_/.test(error.code ?? '') || (error as { library?: string }).library === 'SSL routines') {
    log.warning(`TLS handshake failed from ip=${socket.remoteAddress ?? '-'}: ${error.message}`);
    socket.destroy();
    return;
  }
  const conn = socket as HttpSocket & ClosingSocket;
  // The connection's last answer is already decided (a refusal, or a response that closes it):
  // Node's parser goes on reading what the client pipelined, which gets no answer of its own.
  if (conn[CLOSING]) return;
  conn[CLOSING] = true;
  // Bytes after a request that asked to close the connection (Connection: close, HTTP/1.0): not
  // an error to answer, the connection closes after that request's response.
  if (error.code === 'HPE_CLOSED_CONNECTION') return;
  const status = clientErrorStatus(error);
  const reason = `${STATUS_CODES[status]}: ${error.message}\n`;
  log.warning(`Invalid request from ip=${socket.remoteAddress ?? '-'}: ${error.message}`);
  // The request whose body broke, if the error is in a body (the app has that request already).
  const open = (conn.parser as { incoming?: IncomingMessage | null } | null | undefined)?.incoming;
  const failing = open && !open.complete ? open : undefined;
  afterEarlierResponses(conn, failing, () =>
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
    ),
  );
}

/** Answer an upgrade request with an HTTP status instead of switching protocols, then close. */
export function writeUpgradeRefusal(socket: Duplex, refusal: UpgradeRefusal): void {
  const {
    status,
    headers = {},
    body,
  } = typeof refusal === 'number' ? { status: refusal, headers: {}, body: undefined } : refusal;
  const text = body ?? `${STATUS_CODES[status] ?? 'Refused'}\n`;
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}`, 'Connection: close'];
  const names = Object.keys(headers).map((name) => name.toLowerCase());
  if (!names.includes('content-type')) lines.push('Content-Type: text/plain; charset=utf-8');
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${Buffer.byteLength(text)}`);
  if (socket.writable) socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`);
  else socket.destroy();
}

/**
 * For worker classes without WebSocket support: an app that uses WebSockets gets every upgrade
 * request refused with 426 and a warning that says which worker class serves them.
 */
export function refuseUpgrades(log: Logger, workerClass: string, app?: AppWebSockets): UpgradeListener {
  // attach(server) is for libraries (socket.io) that also answer plain HTTP requests, long-polling:
  // without it those reach the app's listener, and no upgrade ever comes to be refused.
  if (app?.attach) {
    log.warning(
      `The app exports attach(server), which -k ${workerClass} does not call: libraries it attaches (socket.io) are not served, their requests reach the app. Run it with -k ws`,
    );
  }
  return (req, socket) => {
    log.warning(
      `WebSocket upgrade refused for ${req.url}: the app defines WebSocket handlers, which -k ${workerClass} does not serve; run it with -k ws`,
    );
    writeUpgradeRefusal(socket, {
      status: 426,
      headers: { Upgrade: 'websocket' },
      body: `WebSocket upgrades need the ws worker class (kelpie -k ws).\n`,
    });
  };
}

/** Call the app's listener; a throw or a rejected promise becomes a 500 and an error log line. */
export function guardListener(listener: RequestListener, log: Logger): RequestListener {
  const fail = (error: unknown, req: IncomingMessage, res: ServerResponse): void => {
    log.error(`Error handling request ${req.method} ${req.url}`, error);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.shouldKeepAlive = false;
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Internal Server Error\n');
  };
  return (req, res) => {
    try {
      const result = listener(req, res) as PromiseLike<unknown> | undefined;
      if (result && typeof result.then === 'function') result.then(undefined, (error) => fail(error, req, res));
    } catch (error) {
      fail(error, req, res);
    }
  };
}

/**
 * A connection that came in on a unix socket, with no PROXY header applied (that would give it an
 * address): a local process, trusted for forwarded headers (forwarded.ts `peerIsTrusted`). Node's
 * handle class tells pipes from TCP; TLS sockets are looked at through the socket they wrap.
 */
function isUnixPeer(socket: Socket): boolean {
  if (socket.remoteAddress !== undefined) return false;
  const raw = (socket as Socket & { _parent?: Socket | null })._parent ?? socket;
  return (raw as Socket & { _handle?: object | null })._handle?.constructor?.name === 'Pipe';
}

/**
 * A listening server's errors are failed accepts (out of descriptors, mostly, when libuv's spare
 * descriptor is gone too): the worker serves on, and logs them at most once every 10 s.
 */
function acceptErrorLogger(log: Logger): (error: NodeJS.ErrnoException) => void {
  const throttle = new LogThrottle(10_000);
  return (error) => {
    const skipped = throttle.take();
    if (skipped === undefined) return;
    const more = skipped > 0 ? ` (${skipped} more since the last report)` : '';
    log.warning(`Could not accept a connection: ${error.code ?? error.message}${more}`);
  };
}

/** Node's own fields on a server-side HTTP socket, also read by graceful-shutdown libraries. */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null; parser?: unknown; alpnProtocol?: string | false };

/** What a `ws` WebSocket (the `ws` package, any copy) offers once it has put itself on its socket. */
interface WsLike {
  readyState: number;
  close(code?: number, reason?: string): void;
}

/**
 * The `ws` WebSocket on an upgraded socket, if a `ws` server (the app's, a library's) took it:
 * `ws` sets itself on the socket under a symbol described 'websocket' (its lib/constants.js
 * kWebSocket, set in WebSocket#setSocket). Read by shape, so core needs no `ws`.
 */
function webSocketOn(socket: Duplex): WsLike | undefined {
  for (const key of Object.getOwnPropertySymbols(socket)) {
    if (key.description !== 'websocket') continue;
    const ws = (socket as unknown as Record<symbol, unknown>)[key] as Partial<WsLike> | null | undefined;
    if (ws && typeof ws.close === 'function' && typeof ws.readyState === 'number') return ws as WsLike;
  }
  return undefined;
}

/** `ws`'s WebSocket.OPEN. */
const WS_OPEN = 1;

/** Close 1001 on the socket's `ws` WebSocket if it is open; other sockets are left alone. */
function closeWebSocket(socket: Duplex): void {
  const ws = webSocketOn(socket);
  if (ws?.readyState === WS_OPEN) ws.close(1001, 'Server shutting down');
}

/**
 * Emit `close` on one of kelpie's servers now, for libraries attached to it (engine.io closes
 * its clients on it), and not a second time when Node would, once its last connection is gone.
 */
function announceClose(server: NetServer): void {
  if (server.listenerCount('close') === 0) return;
  type Emit = (this: NetServer, event: string | symbol, ...args: unknown[]) => boolean;
  const target = server as unknown as { emit: Emit };
  const emit = target.emit;
  target.emit = function (event, ...args) {
    return event === 'close' ? false : emit.call(this, event, ...args);
  };
  emit.call(server, 'close');
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

export class HttpServers {
  readonly servers: Server[];
  readonly #options: HttpServersOptions;
  /** Open connections, tracked per connection rather than per request to keep requests cheap. */
  readonly #sockets = new Set<Socket>();
  /** HTTP/2 connections: closed with GOAWAY when draining. */
  readonly #sessions = new Set<Http2Session>();
  /** Connections handed to the upgrade listener (WebSockets): a subset of #sockets. */
  readonly #upgraded = new Set<Socket>();
  /**
   * Connections accepted but not yet HTTP: in the TLS handshake or before their PROXY header.
   * Tracked only while they are neither, so that a drain waits for them as for requests.
   */
  readonly #arriving = new Set<Socket>();
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

  constructor(options: HttpServersOptions) {
    this.#options = options;
    const { settings, log } = options;
    this.gate = new AcceptGate({
      limit: settings.workerConnections,
      backlog: settings.backlog,
      log,
      ...options.accept,
    });
    everyHttpServers.add(this);
    const app = guardListener(options.listener, log);
    const onRequest = options.onRequest;
    const sockets = this.#sockets;
    const upgraded = this.#upgraded;
    const arriving = this.#arriving;
    const settle = () => this.#settle();
    function forget(this: Socket): void {
      sockets.delete(this);
      upgraded.delete(this);
      settle();
    }
    const onConnection = (socket: Socket) => {
      sockets.add(socket);
      if (arriving.size > 0) arriving.delete((socket as Socket & { _parent?: Socket | null })._parent ?? socket);
      if (isUnixPeer(socket)) (socket as Socket & { [UNIX_PEER]?: boolean })[UNIX_PEER] = true;
      socket.once('close', forget);
      // Handed in after the drain began: swept like the others if it stays idle (HTTP/2
      // connections are closed by their session instead).
      if ((socket as HttpSocket).alpnProtocol !== 'h2') this.#idleSince?.set(socket, Date.now());
    };
    this.#stopSendTimeout = watchSendProgress(sockets, settings.sendTimeout, log);
    const access = accessLogger(settings);
    const statsd = statsdClient(settings, log);
    const count = requestCounter(settings.metricsBind !== null, statsd && statsdObserver(statsd));
    // Without metrics nothing is counted per request: the requests in flight (for `kelpie ctl`)
    // are read from the open connections twice a second (heartbeats report at most once a second).
    if (!count) {
      const stats = requestStats();
      setInterval(() => stats.setInFlight(this.inFlight()), 500).unref();
    }
    const handler: RequestListener = access
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
    this.servers = options.listeners.map((listener) => {
      const server = createConfiguredServer(settings, log, handler, options.serverOptions, listener.tls);
      if (listener.tls) {
        // TLS connections are tracked once the handshake is done: the TLS socket carries HTTP.
        server.prependListener('secureConnection', inheritProxyHeader);
        server.on('secureConnection', onConnection);
        server.on('connection', (raw: Socket) => this.#arrive(raw));
      } else server.on('connection', onConnection);
      server.on('session', (session: Http2Session) => {
        this.#sessions.add(session);
        session.once('close', () => this.#sessions.delete(session));
        if (this.#draining) session.close();
      });
      if (!count) {
        server.on('stream', (stream: { once(event: 'close', listener: () => void): void }) => {
          this.#streams++;
          stream.once('close', () => this.#streams--);
        });
      }
      this.#trackUpgrades(server);
      if (options.upgrade) server.on('upgrade', checkedUpgrade(options.upgrade, settings, log));
      return server;
    });
    const readers = new Map<boolean, ReturnType<typeof proxyHeaderReader>>();
    for (const [i, server] of this.servers.entries()) {
      const emit = (socket: Socket) => server.emit('connection', socket);
      if (settings.proxyProtocol === 'off') {
        this.#handOver.set(server, emit);
        continue;
      }
      const tls = options.listeners[i]?.tls !== undefined;
      let reader = readers.get(tls);
      if (!reader) {
        reader = proxyHeaderReader({ settings, log, tls });
        readers.set(tls, reader);
      }
      const read = reader;
      this.#handOver.set(server, (socket) => {
        this.#arrive(socket);
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
   * (and logged, as a drop). `read` is what the arbiter read first (sticky.ts): its PROXY header
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
      // Its 'close' (forget) removes it; one already gone is not added.
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

  /** A connection accepted that is not HTTP yet (TLS handshake, PROXY header): a drain waits for it. */
  #arrive(raw: Socket): void {
    if (this.#arriving.has(raw) || raw.destroyed) return;
    this.#arriving.add(raw);
    raw.once('close', () => {
      this.#arriving.delete(raw);
      this.#settle();
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
   * server when a WebSocket library is attached to it (listen-capture.ts closeServedServer), so
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
    const idleSince = new Map<Socket, number>();
    this.#idleSince = idleSince;
    const now = Date.now();
    for (const session of this.#sessions) session.close();
    for (const socket of this.#sockets) {
      if ((socket as HttpSocket).alpnProtocol === 'h2') continue;
      // The response a connection is writing: Node's own field, also used by shutdown libraries.
      const res = (socket as HttpSocket)._httpMessage;
      if (!res) idleSince.set(socket, now);
      else if (!res.headersSent) res.shouldKeepAlive = false;
      else res.once('finish', () => idleSince.set(socket, Date.now()));
    }
    const sweep = setInterval(
      () => {
        const at = Date.now();
        for (const [socket, since] of idleSince) {
          // Busy again (it closes after this response, which says Connection: close), gone, or
          // upgraded (a WebSocket: no HTTP parser any more; the app closes it, or the graceful
          // timeout does).
          const { _httpMessage, parser } = socket as HttpSocket;
          if (_httpMessage || socket.destroyed || parser === null) {
            idleSince.delete(socket);
          } else if (at - since >= grace) {
            idleSince.delete(socket);
            // Timers run before the poll phase: a request that arrived while this process was not
            // scheduled is still unread. Close only what is still idle once poll has read it.
            const bytes = socket.bytesRead;
            setImmediate(() => {
              const after = socket as HttpSocket;
              if (after._httpMessage || after.destroyed || after.parser === null) return;
              if (socket.bytesRead !== bytes) idleSince.set(socket, Date.now());
              else socket.destroy();
            });
          }
        }
      },
      Math.max(10, grace / 4),
    );
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
    clearInterval(sweep);
  }

  /** The libraries' signal to close their upgraded connections (see drain()). */
  #closeLibrarySockets(): void {
    for (const server of this.servers) announceClose(server);
    closeServedServer();
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
