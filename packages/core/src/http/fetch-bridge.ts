import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientGone, disconnected, LazyRequest, prepareLazyRequest } from './fetch-request.js';
import {
  BODY,
  type HeadersInput,
  INIT,
  installLightResponse,
  type Light,
  lightParts,
  realOf,
  untouchedBody,
} from './light-response.js';
import { forwardedScheme, LazyRequestInfo } from './request-info.js';
import {
  type BodyReader,
  bodyReader,
  describeKind,
  isResponseLike,
  RESPONSE_LIKE,
  type ResponseLike,
  setCookies,
  toChunk,
  unservable,
  wholeBody,
} from './response-like.js';

/**
 * The fetch bridge: a fetch handler `(request, info) => Response` served as a `node:http` request
 * listener. The Request side is fetch-request.ts's; this file calls the handler and writes what
 * it returns (a Response, a light response, a Response-like from another realm) with
 * backpressure, answering 500 for a handler that fails.
 *
 * Node loads its fetch classes (undici) on first use of a fetch global. Nothing here or in
 * fetch-request.ts / light-response.ts reads one before createFetchListener() is called for a
 * fetch app, or a Response-like result reaches the bridge: a worker serving a Node listener
 * never loads them.
 */

/**
 * requestInfo(req).scheme without building the rest of the request's facts: https for TLS, or
 * when a trusted proxy's secure-scheme header says so (forwardedScheme() checks the trust).
 */
const defaultScheme = (req: IncomingMessage): 'http' | 'https' =>
  (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true || forwardedScheme(req) === 'https'
    ? 'https'
    : 'http';

export type FetchHandler = (request: Request, ...rest: unknown[]) => Response | Promise<Response>;

export interface FetchBridgeOptions {
  /**
   * Called when the handler throws/rejects or returns something that is not a Response, and when
   * a response body fails midway. Default: write to stderr. The bridge then answers 500 (if
   * headers are not sent yet) or destroys the socket.
   */
  onError?: (error: unknown, req: IncomingMessage) => void;
  /** Scheme used to build `request.url`; default: the request's, after proxy resolution (request-info.ts). */
  scheme?: (req: IncomingMessage) => 'http' | 'https';
  /**
   * Replace the global Response with a lighter one (light-response.ts) so simple responses are
   * written without building a body stream. Default true.
   */
  lightResponse?: boolean;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;
type ErrorReporter = (error: unknown, req: IncomingMessage) => void;

const noop = (): void => {};

/**
 * Turns a fetch-style handler into a `node:http` request listener. The Request handed to the
 * handler is built lazily (see LazyRequest) and the Response body is streamed with backpressure.
 */
export function createFetchListener(handler: FetchHandler, options: FetchBridgeOptions = {}): Listener {
  const onError = options.onError ?? logToStderr;
  const scheme = options.scheme ?? defaultScheme;
  // The fetch classes are needed from here on: this is where a process serving a fetch app loads them.
  prepareLazyRequest();
  if (options.lightResponse !== false) installLightResponse();
  return (req, res) => {
    const request = new LazyRequest(req, res, scheme) as unknown as Request;
    let result: unknown;
    try {
      // The second argument: the request's facts after proxy resolution (client address, scheme).
      result = handler(request, new LazyRequestInfo(req));
    } catch (error) {
      fail(error, req, res, onError);
      return;
    }
    // Responding synchronously when we can saves a microtask turn on the common path.
    if (typeof (result as PromiseLike<unknown> | null)?.then !== 'function') {
      respond(result, req, res, onError);
    } else {
      Promise.resolve(result).then(
        (value) => respond(value, req, res, onError),
        (error: unknown) => fail(error, req, res, onError),
      );
    }
  };
}

function respond(value: unknown, req: IncomingMessage, res: ServerResponse, onError: ErrorReporter): void {
  try {
    const light = typeof value === 'object' && value !== null ? lightParts(value) : undefined;
    if (light !== undefined) {
      if (!clientGone(req, res)) writeLight(light, req, res);
      return;
    }
    const built = typeof value === 'object' && value !== null ? untouchedBody(value) : undefined;
    if (built !== undefined) {
      if (clientGone(req, res)) return;
      // The real Response's status and headers (the app may have changed them), the recorded body whole.
      applyHead(res, realOf(built));
      // Node frames it as it would the same body from any listener (and sends none for HEAD).
      const body = built[BODY];
      if (body === null) res.end();
      else res.end(body);
      return;
    }
    if (!(value instanceof Response)) {
      respondLike(value, req, res, onError);
      return;
    }
    // Response.error() has status 0 and cannot be put on the wire.
    if (value.type === 'error') {
      throw new TypeError(`The fetch handler must return a Response, got ${describeKind(value)}`);
    }
    const body = value.body;
    if (clientGone(req, res)) {
      if (body !== null) cancelQuietly(body);
      return;
    }
    if (body === null || req.method === 'HEAD') {
      if (body !== null) cancelQuietly(body);
      applyHead(res, value);
      res.end();
      return;
    }
    // getReader() throws here, before anything is sent, if the body was already used.
    const reader = body.getReader();
    streamBody(reader, value, req, res, onError).catch((error: unknown) => fail(error, req, res, onError));
  } catch (error) {
    fail(error, req, res, onError);
  }
}

/**
 * A response of another class than the global one (response-like.ts): @whatwg-node's, undici's,
 * node-fetch's. Its body may be a web stream of any implementation, a Node Readable, an async
 * iterable, a string or bytes.
 */
function respondLike(value: unknown, req: IncomingMessage, res: ServerResponse, onError: ErrorReporter): void {
  if (!isResponseLike(value)) {
    throw new TypeError(`The fetch handler must return ${RESPONSE_LIKE}, got ${describeKind(value)}`);
  }
  const refusal = unservable(value);
  if (refusal !== undefined) throw new TypeError(`The fetch handler returned a response with ${refusal}`);
  const body = value.body ?? null;
  const whole = body === null ? null : wholeBody(body);
  const reader = whole === undefined ? bodyReader(body) : undefined;
  if (whole === undefined && reader === undefined) {
    throw new TypeError(
      `The fetch handler returned a response whose body is ${describeKind(body)}: expected a ReadableStream, a Node Readable, an async iterable, a string, bytes or null`,
    );
  }
  if (clientGone(req, res) || req.method === 'HEAD' || whole !== undefined) {
    if (reader !== undefined) reader.cancel().catch(noop);
    if (clientGone(req, res)) return;
    applyHead(res, value);
    if (whole === null || whole === undefined || req.method === 'HEAD') res.end();
    else res.end(whole);
    return;
  }
  streamBody(reader as BodyReader, value, req, res, onError).catch((error: unknown) => fail(error, req, res, onError));
}

/**
 * Copies status and headers onto `res` without writeHead(): Node then picks the framing itself
 * when the body is written, and can send a Content-Length for a body passed whole to end().
 */
function applyHead(res: ServerResponse, response: Response | ResponseLike): void {
  res.statusCode = response.status;
  const { statusText } = response;
  if (statusText !== '' && statusText !== undefined) res.statusMessage = statusText;
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  const cookies = response instanceof Response ? response.headers.getSetCookie() : setCookies(response.headers);
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
}

const TEXT_PLAIN = 'text/plain;charset=UTF-8';

/**
 * Header fields as writeHead() takes them fastest: one flat [name, value, name, value...] list,
 * which Node reads in order, where an object it must walk key by key.
 */
type Head = (string | number | readonly string[])[];

/** A LightResponse with a string or bytes body: one writeHead() and one end(), no stream. */
function writeLight(light: Light, req: IncomingMessage, res: ServerResponse): void {
  const init = light[INIT];
  const body = light[BODY];
  const statusText = init?.statusText;
  if (statusText !== undefined && statusText !== '') res.statusMessage = statusText;
  const status = init?.status ?? 200;
  const head: Head = [];
  const found = headInto(head, init?.headers);
  if (typeof body === 'string' && (found & CONTENT_TYPE) === 0) head.push('content-type', TEXT_PLAIN);
  // As Node frames a response ended without writeHead(): the body's length, 0 for none, and
  // nothing for the statuses that never have a body.
  if ((found & CONTENT_LENGTH) === 0 && status !== 204 && status !== 304) {
    const length = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    head.push('content-length', length);
  }
  res.writeHead(status, head as string[]);
  if (body === null || req.method === 'HEAD') res.end();
  else res.end(body);
}

const CONTENT_TYPE = 1;
const CONTENT_LENGTH = 2;

/** CONTENT_TYPE or CONTENT_LENGTH when `name` is that field (any case), else 0. */
function framing(name: string): number {
  // Lower-casing makes a string: only for a name of the right length not spelled the usual ways.
  if (name.length === 12) {
    return name === 'content-type' || name === 'Content-Type' || name.toLowerCase() === 'content-type'
      ? CONTENT_TYPE
      : 0;
  }
  if (name.length === 14) {
    return name === 'content-length' || name === 'Content-Length' || name.toLowerCase() === 'content-length'
      ? CONTENT_LENGTH
      : 0;
  }
  return 0;
}

/** Appends a Response init's headers to `head`; returns which framing fields were among them. */
function headInto(head: Head, headers: HeadersInput): number {
  let found = 0;
  if (headers === undefined) return found;
  if (headers instanceof Headers) {
    headers.forEach((value, name) => {
      if (name === 'set-cookie') return;
      head.push(name, value);
      found |= framing(name);
    });
    for (const cookie of headers.getSetCookie()) head.push('set-cookie', cookie);
  } else if (Array.isArray(headers)) {
    for (const [name, value] of headers as [string, string][]) {
      head.push(name, value);
      found |= framing(name);
    }
  } else {
    // The common case (Hono's c.json, c.text): a plain header object.
    const record = headers as Record<string, string>;
    for (const name of Object.keys(record)) {
      head.push(name, record[name] as string);
      found |= framing(name);
    }
  }
  return found;
}

const PENDING = Symbol('pending');

async function streamBody(
  reader: BodyReader,
  response: Response | ResponseLike,
  req: IncomingMessage,
  res: ServerResponse,
  onError: ErrorReporter,
): Promise<void> {
  let gone = false;
  let wake: (() => void) | undefined;
  const resume = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onClose = (): void => {
    if (res.writableFinished) return;
    gone = true;
    reader.cancel(disconnected()).catch(noop);
    resume();
  };
  res.on('close', onClose);
  res.on('drain', resume);
  try {
    const first = await reader.read();
    if (gone) return;
    applyHead(res, response);
    if (first.done) {
      res.end();
      return;
    }
    // Bodies built from a string or bytes end right after their only chunk. Peeking one event
    // loop turn ahead lets end() send such a body in one write with a Content-Length, while a
    // slow stream (e.g. server-sent events) gets its first chunk out without waiting for more.
    const pending = reader.read();
    let timer: NodeJS.Immediate | undefined;
    const peeked = await Promise.race([
      pending,
      new Promise<typeof PENDING>((resolve) => {
        timer = setImmediate(resolve, PENDING);
      }),
    ]).finally(() => clearImmediate(timer));
    if (gone) return;
    if (peeked !== PENDING && peeked.done) {
      res.end(toChunk(first.value));
      return;
    }
    // res.write() returning false means the socket buffer is full: wait for 'drain' (or a
    // disconnect) before reading more, so a fast producer cannot pile its body up in memory.
    const drained = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
      });
    if (!res.write(toChunk(first.value))) await drained();
    let result = peeked === PENDING ? await pending : peeked;
    while (!gone && !result.done) {
      if (!res.write(toChunk(result.value))) await drained();
      if (gone) break;
      result = await reader.read();
    }
    if (!gone) res.end();
  } catch (error) {
    if (gone) return;
    reader.cancel(error).catch(noop);
    fail(error, req, res, onError);
  } finally {
    res.off('close', onClose);
    res.off('drain', resume);
  }
}

/** Reports `error`, then answers 500 if nothing was sent yet, or cuts the response short. */
function fail(error: unknown, req: IncomingMessage, res: ServerResponse, onError: ErrorReporter): void {
  try {
    onError(error, req);
  } catch (reportError) {
    logToStderr(reportError, req);
  }
  if (res.headersSent) {
    // A truncated response must not look complete to the client.
    res.destroy();
    return;
  }
  if (res.destroyed || res.writableEnded) return;
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.statusCode = 500;
  res.statusMessage = 'Internal Server Error';
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  // Same answer as a failing Node listener gets (guard-listener.ts): the app's state is suspect.
  res.shouldKeepAlive = false;
  res.end('Internal Server Error\n');
}

function cancelQuietly(body: ReadableStream): void {
  body.cancel().catch(noop);
}

/** The default error reporter: stderr. */
export function logToStderr(error: unknown, req: IncomingMessage): void {
  console.error(`kelpie: error while handling ${req.method} ${req.url}:`, error);
}
