import type { IncomingMessage } from 'node:http';

/**
 * The `headers` of a fetch handler's Request (fetch-request.ts): a `Headers` (`instanceof`
 * holds) that answers get() and has() from the fields Node has already parsed, and builds a real
 * Headers from `rawHeaders` only when another member is used (forEach, entries, set, append...).
 * Handlers mostly read a field or two (Hono's `c.req.header()`, a CORS or auth check), while a
 * real Headers validates and copies every field of the request. Once the real one is built, every
 * member goes to it, so changes made with set() or append() are what get() then answers.
 *
 * Also the delegation both lazy classes share (delegateMembers()).
 */

/** An HTTP token: what Headers accepts as a field name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Bytes Headers refuses in a value (Node's strict parser refuses them too). */
const FORBIDDEN_VALUE = /[\0\r\n]/;

/**
 * Fields Node keeps only the first value of when repeated (lib/_http_incoming.js), where Headers
 * joins every value with ", ", and set-cookie, an array in Node: these are read from rawHeaders.
 * Every other field Node joins as Headers does (", ", and "; " for cookie), and trims likewise.
 */
const NODE_FIRST_ONLY: ReadonlySet<string> = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'set-cookie',
  'user-agent',
  // Not a field Node can keep on a plain object.
  '__proto__',
]);

/** A real Headers with the request's fields; a value Headers refuses is left out rather than failing the request. */
export function headersFromRaw(raw: string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i] as string, raw[i + 1] as string);
    } catch {
      // A value Node's lenient parser accepted but Headers rejects: drop it rather than fail the request.
    }
  }
  return headers;
}

/** RequestHeaders' real Headers, for the members prepareRequestHeaders() delegates (set in its static block). */
let realHeadersOf: (headers: RequestHeaders) => Headers;

export class RequestHeaders {
  readonly #req: IncomingMessage;
  #real: Headers | undefined;

  constructor(req: IncomingMessage) {
    this.#req = req;
  }

  get(name: string): string | null {
    const value = this.#lookup(name);
    return value === undefined ? this.#headers().get(name) : value;
  }

  has(name: string): boolean {
    const value = this.#lookup(name);
    return value === undefined ? this.#headers().has(name) : value !== null;
  }

  /**
   * The field's value as a real Headers would give it, null when the request has no such field,
   * or undefined when only the real Headers can answer (it was built already, the name is not a
   * token, so get() must throw, an HTTP/2 request, a value Headers would refuse).
   */
  #lookup(name: unknown): string | null | undefined {
    if (this.#real !== undefined || typeof name !== 'string' || !TOKEN.test(name)) return undefined;
    const req = this.#req;
    if (req.httpVersionMajor !== 1) return undefined;
    const lower = name.toLowerCase();
    if (NODE_FIRST_ONLY.has(lower)) return rawLookup(req.rawHeaders, lower);
    const fields = req.headers;
    if (!Object.hasOwn(fields, lower)) return null;
    const value = fields[lower];
    return typeof value === 'string' && !FORBIDDEN_VALUE.test(value) ? value : undefined;
  }

  #headers(): Headers {
    this.#real ??= headersFromRaw(this.#req.rawHeaders);
    return this.#real;
  }

  static {
    realHeadersOf = (headers) => headers.#headers();
  }
}

/** Every value of the field `lower` in rawHeaders, joined as Headers joins them; undefined if one would be refused. */
function rawLookup(raw: string[], lower: string): string | null | undefined {
  let joined: string | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const field = raw[i] as string;
    if (field.length !== lower.length || field.toLowerCase() !== lower) continue;
    const value = raw[i + 1] as string;
    if (FORBIDDEN_VALUE.test(value)) return undefined;
    joined = joined === null ? value : `${joined}, ${value}`;
  }
  return joined;
}

/** The real Headers behind `headers` (itself when it is one already), e.g. for `new Request()`. */
export function realHeaders(headers: Headers): Headers {
  return headers instanceof RequestHeaders ? realHeadersOf(headers) : headers;
}

let prepared = false;

/** Makes RequestHeaders a Headers (see delegateMembers()). Run by the fetch bridge with prepareLazyRequest(). */
export function prepareRequestHeaders(): void {
  if (prepared) return;
  prepared = true;
  delegateMembers(RequestHeaders.prototype, Headers.prototype, (headers) => realHeadersOf(headers as RequestHeaders));
}

/**
 * Makes `own` (a lazy stand-in's prototype) inherit `native` (the real class's prototype), and
 * delegates every member of `native` that `own` does not define to the real object `realOf`
 * builds. Walks the prototype instead of listing members, so that ones added by newer Node
 * versions are delegated too; data properties such as Symbol.toStringTag stay inherited.
 */
export function delegateMembers(own: object, native: object, realOf: (lazy: object) => object): void {
  Object.setPrototypeOf(own, native);
  for (const key of Reflect.ownKeys(native)) {
    if (key === 'constructor' || Object.hasOwn(own, key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(native, key);
    const getter = descriptor?.get;
    const method: unknown = descriptor?.value;
    if (getter) {
      Object.defineProperty(own, key, {
        configurable: true,
        enumerable: descriptor.enumerable ?? false,
        get(this: object) {
          return getter.call(realOf(this));
        },
      });
    } else if (typeof method === 'function') {
      Object.defineProperty(own, key, {
        configurable: true,
        enumerable: descriptor?.enumerable ?? false,
        writable: true,
        value: function (this: object, ...args: unknown[]): unknown {
          return method.apply(realOf(this), args);
        },
      });
    }
  }
}
