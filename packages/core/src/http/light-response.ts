/**
 * A lighter global `Response` for fetch-style apps.
 *
 * Node's Response builds a web ReadableStream for every body at construction, even
 * `new Response('ok')`, and that stream (transferable, with its controller and queue) costs more
 * than the rest of a small request together. Most app responses are a string or bytes that the
 * server writes in one piece, so the stream is never needed. A LightResponse only records its
 * arguments; the fetch bridge writes simple bodies straight from them, and any other use (reading
 * the body, `headers`, `clone()`, anything) builds the real Response once and delegates to it.
 *
 * `instanceof Response` holds for both kinds, and every Response member behaves as Node's does.
 * Bodies other than strings and bytes (a Uint8Array, an ArrayBuffer or another view of one, whose
 * bytes are not copied), and unusual init values, build the real Response at once, so validation
 * errors surface where the app expects them.
 *
 * Nothing here reads a fetch global before installLightResponse() runs (the fetch bridge calls it
 * when a fetch app's listener is made): Node loads its fetch classes on first use.
 */

type NativeResponse = Response;
/** What `new Headers()` and `new Response()` accept (not global types without the DOM lib). */
export type HeadersInput = ConstructorParameters<typeof Headers>[0];
type BodyInput = ConstructorParameters<typeof Response>[0];

/**
 * Node's own Response, read when installLightResponse() runs and not at import: the fetch
 * globals are lazy in Node, and reading one loads undici (~25 ms and ~10 MB per process), which
 * a worker serving a Node listener never needs.
 */
let Native: typeof Response;

/** The recorded arguments live on the instance itself: no second object per response. */
export const BODY = Symbol('kelpie.lightResponse.body');
export const INIT = Symbol('kelpie.lightResponse.init');
const REAL = Symbol('kelpie.lightResponse.real');

/** A LightResponse as the fetch bridge sees it (see lightParts). */
export interface Light {
  [BODY]: string | Uint8Array | null;
  [INIT]: ResponseInit | undefined;
  [REAL]: NativeResponse | undefined;
}

/**
 * The body as the bridge writes it, or undefined when the real Response must be built: a string,
 * null, or the bytes of a Uint8Array, ArrayBuffer or other view (wrapped, not copied). Shared,
 * resizable and empty buffers are left to the real constructor (a detached buffer is empty, and
 * the real one refuses it).
 */
function simpleBody(body: unknown): string | Uint8Array | null | undefined {
  if (body === null || body === undefined) return null;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return plainBuffer(body) ? new Uint8Array(body) : undefined;
  if (ArrayBuffer.isView(body) && body.buffer instanceof ArrayBuffer && plainBuffer(body.buffer)) {
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }
  return undefined;
}

const plainBuffer = (buffer: ArrayBuffer): boolean =>
  buffer.byteLength > 0 && (buffer as { resizable?: boolean }).resizable !== true;

function isSimpleInit(init: ResponseInit | undefined): boolean {
  if (init === undefined) return true;
  if (typeof init !== 'object' || init === null) return false;
  const { status, statusText } = init;
  if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 599)) return false;
  if (statusText !== undefined && typeof statusText !== 'string') return false;
  // A null body status with a body is an error the real constructor reports.
  return true;
}

function real(light: Light): NativeResponse {
  light[REAL] ??= new Native(light[BODY], light[INIT]);
  return light[REAL];
}

/**
 * The LightResponse itself when the bridge can write it directly (its real Response was never
 * built, so nothing can have changed its headers or read its body); undefined otherwise.
 */
export function lightParts(response: object): Light | undefined {
  const light = response as Partial<Light>;
  return light[BODY] !== undefined && light[REAL] === undefined ? (light as Light) : undefined;
}

/**
 * A LightResponse whose real Response was built (the app changed its headers, as Hono middleware
 * does after the handler, or cloned it) but whose body nobody has read or locked: the bridge can
 * write the real one's status and headers with the recorded body, instead of reading the body
 * stream the real one holds. Undefined otherwise.
 */
export function untouchedBody(response: object): Light | undefined {
  const light = response as Partial<Light>;
  const real = light[REAL];
  if (real === undefined || light[BODY] === undefined || real.bodyUsed || real.body?.locked === true) return undefined;
  return light as Light;
}

/** The real Response of a LightResponse untouchedBody() returned. */
export const realOf = (light: Light): NativeResponse => real(light);

/** The parts the fetch bridge can write directly, or undefined when the real Response is needed. */
export interface SimpleResponse {
  status: number;
  statusText: string;
  headers: HeadersInput;
  body: string | Uint8Array | null;
}

/** lightParts() as a plain record (for tests and debugging; the bridge reads the instance). */
export function simpleParts(response: object): SimpleResponse | undefined {
  const light = lightParts(response);
  if (light === undefined) return undefined;
  const init = light[INIT];
  return { status: init?.status ?? 200, statusText: init?.statusText ?? '', headers: init?.headers, body: light[BODY] };
}

function createLightResponse(): typeof Response {
  // A constructor function rather than a class: it returns a real Response when the arguments
  // are not simple, which a class constructor cannot do as cleanly.
  function LightResponse(this: Light, body?: BodyInput, init?: ResponseInit): NativeResponse {
    if (!new.target) throw new TypeError("Class constructor Response cannot be invoked without 'new'");
    const simple = simpleBody(body);
    if (simple === undefined || !isSimpleInit(init)) return new Native(body, init);
    const nullBodyStatus = init?.status === 204 || init?.status === 205 || init?.status === 304;
    if (nullBodyStatus && simple !== null) return new Native(body, init);
    this[BODY] = simple;
    this[INIT] = init;
    this[REAL] = undefined;
    return this as unknown as NativeResponse;
  }
  const proto = LightResponse.prototype as Record<PropertyKey, unknown>;
  Object.setPrototypeOf(proto, Native.prototype);
  for (const key of Reflect.ownKeys(Native.prototype)) {
    if (key === 'constructor' || key === Symbol.toStringTag) continue;
    const descriptor = Object.getOwnPropertyDescriptor(Native.prototype, key) as PropertyDescriptor;
    if (descriptor.get) {
      Object.defineProperty(proto, key, {
        configurable: true,
        enumerable: descriptor.enumerable ?? false,
        get(this: Light) {
          return Reflect.get(Native.prototype, key, real(this));
        },
      });
    } else if (typeof descriptor.value === 'function') {
      const method = descriptor.value as (...args: unknown[]) => unknown;
      Object.defineProperty(proto, key, {
        configurable: true,
        writable: true,
        enumerable: descriptor.enumerable ?? false,
        value(this: Light, ...args: unknown[]) {
          return method.apply(real(this), args);
        },
      });
    }
  }
  // The fields the app itself most often reads stay cheap.
  Object.defineProperties(proto, {
    status: {
      configurable: true,
      get(this: Light) {
        return this[REAL]?.status ?? this[INIT]?.status ?? 200;
      },
    },
    ok: {
      configurable: true,
      get(this: Light) {
        const status = (this as unknown as NativeResponse).status;
        return status >= 200 && status <= 299;
      },
    },
    statusText: {
      configurable: true,
      get(this: Light) {
        return this[REAL]?.statusText ?? this[INIT]?.statusText ?? '';
      },
    },
  });
  Object.defineProperty(LightResponse, Symbol.hasInstance, {
    value: (value: unknown) => value instanceof Native,
  });
  Object.defineProperty(LightResponse, 'name', { value: 'Response' });
  addStatics(LightResponse as unknown as typeof Response);
  return LightResponse as unknown as typeof Response;
}

/** Response.error(), redirect() and json(); json() makes a light response too. */
function addStatics(LightResponse: typeof Response): void {
  const statics = LightResponse as unknown as Record<string, unknown>;
  statics.error = () => Native.error();
  statics.redirect = (...args: Parameters<typeof Response.redirect>) => Native.redirect(...args);
  statics.json = (data: unknown, init?: ResponseInit) => {
    const given = init?.headers;
    let headers: HeadersInput = JSON_HEAD;
    if (given !== undefined) {
      const merged = new Headers(given);
      if (!merged.has('content-type')) merged.set('content-type', 'application/json');
      headers = merged;
    }
    const text = JSON.stringify(data);
    if (text === undefined) return Native.json(data, init);
    return new LightResponse(text, { ...init, headers });
  };
}

/** Response.json()'s headers when the app gives none: shared, since a LightResponse never changes them. */
const JSON_HEAD: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json' });

let installed = false;

/** Replace the global Response with the light one (once per process; this loads Node's fetch classes). */
export function installLightResponse(): void {
  if (installed) return;
  installed = true;
  Native = globalThis.Response;
  Object.defineProperty(globalThis, 'Response', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: createLightResponse(),
  });
}
