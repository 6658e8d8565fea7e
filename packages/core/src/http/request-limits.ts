import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestListener, UpgradeListener } from '../app/app.js';
import type { Settings } from '../config/settings.js';
import { STATUS_CODES } from '../node-http.js';
import type { Logger } from '../observability/logger.js';
import {
  authorityConflict,
  forbiddenTrailer,
  isKnownMethod,
  repeatedSingleton,
  targetProblem,
  unknownMethodStatus,
} from './fields.js';
import { CLOSING, type ClosingSocket, isHttp2 } from './http-socket.js';
import { type ForwardedScheme, forwardedScheme } from './request-info.js';
import { writeUpgradeRefusal } from './upgrade-refusal.js';

/**
 * Request limits and checks: what is refused before the app sees a request (its version, Host,
 * transfer codings, method, target and fields, --limit-request-line, --limit-request-fields,
 * --limit-request-field_size, --limit-request-body), for HTTP/1 and HTTP/2 requests, upgrades and
 * CONNECT; and how the refusal is answered (a 4xx or 5xx with the reason, a warning, the
 * connection or stream closed). Parse errors Node's parser raises are parser-errors.ts's.
 */

export interface Refusal {
  status: number;
  reason: string;
}

const refusal = (status: number, reason: string): Refusal => ({ status, reason });

/** The parser's buffer for a request head: what the line and field limits allow together. */
export function maxHeaderSize(settings: Settings): number {
  const line = settings.limitRequestLine || 65536;
  const fields = settings.limitRequestFields || 32768;
  const size = settings.limitRequestFieldSize || 65536;
  return Math.min(line + 2 + fields * (size + 2) + 2, 16 * 1024 * 1024);
}

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

/** Transfer-Encoding: only chunked is implemented, once and last, and only in HTTP/1.1 (or HTTP/2). */
function transferCodingProblem(te: string, req: IncomingMessage, h2: boolean): Refusal | undefined {
  // Node joins repeated fields with ", ".
  const codings = te.split(',').map((coding) => coding.trim().toLowerCase());
  const chunked = codings.filter((coding) => coding === 'chunked').length;
  if (chunked > 1) return refusal(400, `Transfer-Encoding names chunked twice: ${te}`);
  if (chunked === 1 && codings.at(-1) !== 'chunked')
    return refusal(400, `chunked is not the last Transfer-Encoding: ${te}`);
  const other = codings.find((coding) => coding !== 'chunked');
  if (other !== undefined) return refusal(501, `unsupported transfer coding "${other}"`);
  // RFC 9112 6.1: chunked is HTTP/1.1's; an HTTP/1.0 peer on the way would frame the body differently.
  if (req.httpVersionMinor === 0 && !h2) return refusal(400, 'chunked body in an HTTP/1.0 request');
  return undefined;
}

/**
 * What the request says, beyond what the parser checked: its version, Host, target, transfer
 * codings, repeated fields (fields.ts), an HTTP/2 request's method and authority, and
 * contradictory scheme headers from a trusted proxy.
 */
function protocolProblem(req: IncomingMessage, h2: boolean, forwarded: ForwardedScheme): Refusal | undefined {
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
    const problem = transferCodingProblem(te, req, h2);
    if (problem) return problem;
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
  if (forwarded === 'conflict') return refusal(400, 'contradictory scheme headers from a trusted proxy');
  return undefined;
}

type SizeLimits = Pick<
  Settings,
  'limitRequestLine' | 'limitRequestFields' | 'limitRequestFieldSize' | 'limitRequestBody'
>;

/**
 * --limit-request-line (414), --limit-request-fields and --limit-request-field_size (431), and a
 * Content-Length over --limit-request-body (413); a limit of 0 is none.
 */
function sizeProblem(req: IncomingMessage, h2: boolean, limits: SizeLimits): Refusal | undefined {
  const { limitRequestLine, limitRequestFields, limitRequestFieldSize, limitRequestBody } = limits;
  if (limitRequestLine > 0) {
    const line = (req.method ?? '').length + 1 + (req.url ?? '').length + 1 + 5 + req.httpVersion.length;
    if (line > limitRequestLine) {
      return refusal(414, `request line of ${line} bytes is over --limit-request-line ${limitRequestLine}`);
    }
  }
  const raw = req.rawHeaders;
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
}

/**
 * Why a request is refused before the app sees it, or undefined: protocolProblem(), then
 * sizeProblem(). For HTTP/1 and HTTP/2 requests and upgrades. `forwarded` is the request's
 * forwardedScheme(), when the caller has worked it out already.
 */
export function requestChecks(
  settings: Settings,
): (req: IncomingMessage, forwarded?: ForwardedScheme) => Refusal | undefined {
  const { limitRequestLine, limitRequestFields, limitRequestFieldSize, limitRequestBody } = settings;
  const limits: SizeLimits = { limitRequestLine, limitRequestFields, limitRequestFieldSize, limitRequestBody };
  return (req, forwarded = forwardedScheme(req)) => {
    // HTTP/2 requests only come from the http2 server (--http-protocols h2): version 2 is fine there.
    const h2 = req.httpVersionMajor === 2 && isHttp2(req);
    return protocolProblem(req, h2, forwarded) ?? sizeProblem(req, h2, limits);
  };
}

/**
 * The checks of `requestChecks`, then the app. A request pipelined behind one whose answer
 * closes the connection is dropped unseen. A chunked or HTTP/2 body is watched as it comes
 * (--limit-request-body, forbidden trailer fields).
 */
export function withRequestLimits(handler: RequestListener, settings: Settings, log: Logger): RequestListener {
  const check = requestChecks(settings);
  const { limitRequestBody } = settings;
  return (req, res) => {
    const socket = req.socket as Socket & ClosingSocket;
    if (socket[CLOSING]) return;
    const forwarded = forwardedScheme(req);
    const refused = check(req, forwarded);
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
export function checkedUpgrade(listener: UpgradeListener, settings: Settings, log: Logger): UpgradeListener {
  const check = requestChecks(settings);
  return (req, socket, head) => {
    const refused = check(req);
    if (refused) refuseOnSocket(req, socket, refused, log);
    else listener(req, socket, head);
  };
}

/** CONNECT over HTTP/1 (Node hands it to a `connect` listener, never to the app): 501. */
export function refuseTunnel(req: IncomingMessage, socket: Duplex, log: Logger): void {
  refuseOnSocket(req, socket, refusal(501, 'CONNECT is not served (kelpie is not a proxy)'), log);
}

/** A request whose socket Node handed over (an upgrade, CONNECT): the refusal is written there, and it closes. */
function refuseOnSocket(req: IncomingMessage, socket: Duplex, { status, reason }: Refusal, log: Logger): void {
  log.warning(`Invalid request from ip=${req.socket.remoteAddress ?? '-'}: ${reason}`);
  writeUpgradeRefusal(socket, { status, body: `${STATUS_CODES[status]}: ${reason}\n` });
}
