/**
 * Responses of other classes than the global Response: @whatwg-node's PonyfillResponse (GraphQL
 * Yoga), the `undici` package's own Response, node-fetch's. The fetch bridge serves them through
 * the members every one of them has, after its fast paths for the global class (fetch-bridge.ts).
 */

/** The Headers members the bridge reads; `getSetCookie` (or node-fetch's `raw`) keeps cookies apart. */
export interface HeadersLike {
  forEach(callback: (value: string, name: string) => void): void;
  get(name: string): string | null;
  getSetCookie?: () => string[];
  raw?: () => Record<string, string[]>;
}

export interface ResponseLike {
  status: number;
  statusText?: string;
  type?: string;
  headers: HeadersLike;
  body: unknown;
}

/** What the bridge writes a body from: a web stream's reader, or one made over an iterator. */
export interface BodyReader {
  read(): Promise<{ done: boolean; value?: unknown }>;
  cancel(reason?: unknown): Promise<unknown>;
}

export const RESPONSE_LIKE =
  'a Response, or an object like one (a numeric status, headers with forEach() and get(), a body, and text())';

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';

/**
 * Whether `value` has what every Response class has. Strict on purpose: a plain object such as
 * `{ status: 200, body: 'x' }` is refused with a message saying what was expected.
 */
export function isResponseLike(value: unknown): value is ResponseLike {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  const headers = candidate.headers as Record<string, unknown> | null | undefined;
  return (
    typeof candidate.status === 'number' &&
    typeof headers === 'object' &&
    headers !== null &&
    isFunction(headers.forEach) &&
    isFunction(headers.get) &&
    'body' in candidate &&
    isFunction(candidate.text)
  );
}

/**
 * Why a Response-like value cannot be put on the wire, or undefined when it can. Response.error()
 * (status 0, type "error") and anything outside 200-599 (what the Response constructor allows)
 * are refused.
 */
export function unservable(response: ResponseLike): string | undefined {
  const { status } = response;
  if (response.type === 'error' || !Number.isInteger(status) || status < 200 || status > 599) {
    return `status ${status}${response.type === 'error' ? ' (Response.error())' : ''}, not a status between 200 and 599`;
  }
  return undefined;
}

/** The Set-Cookie values one by one: `getSetCookie()` where the class has it, node-fetch's `raw()`. */
export function setCookies(headers: HeadersLike): string[] {
  if (isFunction(headers.getSetCookie)) return headers.getSetCookie();
  if (isFunction(headers.raw)) return headers.raw()['set-cookie'] ?? [];
  const joined = headers.get('set-cookie');
  return joined === null ? [] : [joined];
}

/** A chunk `res.write()` takes: a string or bytes (ArrayBuffers and other views are wrapped, not copied). */
export function toChunk(value: unknown): string | Uint8Array {
  if (typeof value === 'string' || value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`A response body chunk must be a string or bytes, got ${describeKind(value)}`);
}

/** What a value is, for error messages: `null`, its type, or its class name (`PonyfillResponse`). */
export function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return value.constructor?.name ?? 'an object';
}

/** A body given whole: a string, an ArrayBuffer or a view. */
export function wholeBody(body: unknown): string | Uint8Array | undefined {
  if (typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return toChunk(body);
  return undefined;
}

/**
 * A reader over a streamed body: a web ReadableStream (of any implementation: it has getReader),
 * a Node Readable or any async iterable. Undefined for anything else.
 */
export function bodyReader(body: unknown): BodyReader | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const candidate = body as Record<PropertyKey, unknown>;
  // Node Readables have no getReader and are async iterable; iterating one destroys it on return().
  if (isFunction(candidate.getReader)) {
    return (candidate.getReader as () => BodyReader).call(body);
  }
  const iterate = candidate[Symbol.asyncIterator];
  if (isFunction(iterate)) return iteratorReader((iterate as () => AsyncIterator<unknown>).call(body));
  return undefined;
}

function iteratorReader(iterator: AsyncIterator<unknown>): BodyReader {
  return {
    read: () => iterator.next() as Promise<{ done: boolean; value?: unknown }>,
    cancel: async (reason) => {
      await iterator.return?.(reason);
    },
  };
}
