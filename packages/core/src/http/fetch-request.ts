import type { IncomingMessage, ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import { delegateMembers, prepareRequestHeaders, RequestHeaders, realHeaders } from './request-headers.js';

/**
 * The request side of the fetch bridge (fetch-bridge.ts): the `Request` a fetch handler gets,
 * built lazily from the IncomingMessage (method, URL, headers and signal without building a real
 * Request, and headers that answer get() and has() without building a real Headers:
 * request-headers.ts), and its body as a web stream with backpressure.
 */

/** Unread request-body bytes the web stream may queue before the socket is paused. */
const BODY_QUEUE_LIMIT = 64 * 1024;

/** A Host header that can be pasted between `scheme://` and the path without changing the URL's meaning. */
const SAFE_HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const ABSOLUTE_FORM = /^https?:\/\//i;
const SLASH = 0x2f;

/** LazyRequest's real Request, for the members prepareLazyRequest() delegates (set in its static block). */
let realRequestOf: (request: LazyRequest) => Request;

/**
 * Stands in for a `Request` (`instanceof Request` holds) without paying for one: method, url,
 * headers and signal are answered from the IncomingMessage; every other member is delegated to a
 * real Request that is only built when one of them is first used. prepareLazyRequest() wires
 * that up before the first one is made.
 */
export class LazyRequest {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #scheme: ((req: IncomingMessage) => 'http' | 'https') | undefined;
  #url: string | undefined;
  #headers: Headers | undefined;
  #abort: AbortController | undefined;
  #real: Request | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    scheme: ((req: IncomingMessage) => 'http' | 'https') | undefined,
  ) {
    this.#req = req;
    this.#res = res;
    this.#scheme = scheme;
  }

  get method(): string {
    return this.#req.method ?? 'GET';
  }

  get url(): string {
    this.#url ??= requestUrl(this.#req, this.#scheme?.(this.#req) ?? 'http');
    return this.#url;
  }

  get headers(): Headers {
    this.#headers ??= this.#real?.headers ?? (new RequestHeaders(this.#req) as unknown as Headers);
    return this.#headers;
  }

  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      const controller = new AbortController();
      const req = this.#req;
      const res = this.#res;
      this.#abort = controller;
      if (clientGone(req, res)) {
        controller.abort(disconnected());
      } else if (!res.writableFinished) {
        res.once('close', () => {
          if (!res.writableFinished) controller.abort(disconnected());
        });
      }
    }
    return this.#abort.signal;
  }

  /** Logging a request must not build the real one (that would set up a body stream). */
  [inspect.custom](depth: number, options: object): string {
    const fields = { method: this.method, url: this.url, headers: this.headers };
    return `Request ${inspect(fields, { ...options, depth })}`;
  }

  #realRequest(): Request {
    if (this.#real === undefined) {
      const method = this.method;
      const init: RequestInit = { method, headers: realHeaders(this.headers), signal: this.signal, duplex: 'half' };
      if (method !== 'GET' && method !== 'HEAD' && hasBody(this.#req)) init.body = bodyStream(this.#req);
      this.#real = new Request(this.url, init);
    }
    return this.#real;
  }

  static {
    realRequestOf = (request) => request.#realRequest();
  }
}

let prepared = false;

/**
 * Makes LazyRequest a Request, and its headers a Headers: their prototypes inherit the native
 * ones and delegate every other member to the real object (delegateMembers()). Run once, by
 * the fetch bridge when it serves a fetch app, and not at import: reading the global Request
 * makes Node load its fetch classes (undici).
 */
export function prepareLazyRequest(): void {
  if (prepared) return;
  prepared = true;
  prepareRequestHeaders();
  delegateMembers(LazyRequest.prototype, Request.prototype, (request) => realRequestOf(request as LazyRequest));
}

function requestUrl(req: IncomingMessage, scheme: 'http' | 'https'): string {
  const target = req.url ?? '/';
  // The usual origin-form target ("/path") needs no further look.
  if (target.charCodeAt(0) === SLASH) return `${scheme}://${authority(req)}${target}`;
  // A proxy-style absolute-form target carries its own authority, which wins over Host (RFC 9112 3.2.2).
  if (ABSOLUTE_FORM.test(target)) return target;
  return `${scheme}://${authority(req)}/${target}`;
}

/**
 * The Host header when it is a plain host[:port]; otherwise the address the client connected
 * to, so that a Host such as `evil/x?` cannot move the path the application routes on.
 */
function authority(req: IncomingMessage): string {
  // HTTP/2 names the authority in a pseudo-header (and a client may still send Host).
  const host = req.headers.host ?? (req.headers[':authority'] as string | undefined);
  if (host !== undefined && SAFE_HOST.test(host)) return host;
  const { localAddress, localPort } = req.socket;
  if (localAddress === undefined) return 'localhost';
  const address = localAddress.includes(':') ? `[${localAddress}]` : localAddress;
  return localPort === undefined ? address : `${address}:${localPort}`;
}

/**
 * HTTP/1.1 framing: without Content-Length or Transfer-Encoding a request has no body. HTTP/2:
 * a body unless the stream ended with the headers.
 */
function hasBody(req: IncomingMessage): boolean {
  if (req.httpVersionMajor === 2) {
    return !(req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders;
  }
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/**
 * A web stream over the request body. Unlike `Readable.toWeb()`, it does not touch the
 * IncomingMessage until the first read (so Node still discards a body nobody reads), queues
 * bytes rather than chunks, hands out the chunks without copying them, and on cancel() discards
 * the rest of the body instead of destroying the socket, so the handler can still respond.
 */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let controller: ReadableStreamDefaultController<Uint8Array>;
  let attached = false;
  let settled = false;

  const onData = (chunk: Buffer): void => {
    controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    // desiredSize goes negative by the number of queued bytes (highWaterMark is 0).
    if ((controller.desiredSize ?? 0) < -BODY_QUEUE_LIMIT) req.pause();
  };
  const onEnd = (): void => {
    if (settle()) controller.close();
  };
  const onError = (error: unknown): void => {
    if (settle()) controller.error(error);
  };
  const onClose = (): void => onError(req.errored ?? disconnected());
  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onClose);
    return true;
  };

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        if (!attached) {
          attached = true;
          // Node discards a body nobody read once the response has finished; reading it later
          // must fail (or be empty) rather than wait forever for data that is gone.
          if (req.readableDidRead) {
            onError(new TypeError('The request body was discarded before it was read'));
            return;
          }
          if (req.readableEnded) {
            onEnd();
            return;
          }
          if (req.destroyed) {
            onError(req.errored ?? disconnected());
            return;
          }
          req.on('data', onData);
          req.once('end', onEnd);
          req.once('error', onError);
          req.once('close', onClose);
        }
        req.resume();
      },
      cancel() {
        settle();
        // Let the rest of the body drain so the connection stays usable for the response.
        if (!req.destroyed) req.resume();
      },
    },
    { highWaterMark: 0, size: (chunk) => chunk.byteLength },
  );
}

/** True when the client went away before the response was fully written. */
export function clientGone(req: IncomingMessage, res: ServerResponse): boolean {
  return !res.writableFinished && (res.destroyed || req.socket?.destroyed === true);
}

export function disconnected(): DOMException {
  return new DOMException('The client disconnected', 'AbortError');
}
