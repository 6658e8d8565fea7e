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
 * Bodies other than strings and bytes, and unusual init values, build the real Response at once,
 * so validation errors surface where the app expects them.
 */

type NativeResponse = Response;
/** What `new Headers()` and `new Response()` accept (not global types without the DOM lib). */
export type HeadersInput = ConstructorParameters<typeof Headers>[0];
type BodyInput = ConstructorParameters<typeof Response>[0];
const Native: typeof Response = globalThis.Response;

const STATE = Symbol('kelpie.lightResponse');

interface LightState {
  body: string | Uint8Array | null;
  init: ResponseInit | undefined;
  real: NativeResponse | undefined;
}

type Light = { [STATE]: LightState };

function isSimpleBody(body: unknown): body is string | Uint8Array | null | undefined {
  return body === null || body === undefined || typeof body === 'string' || body instanceof Uint8Array;
}

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
  const state = light[STATE];
  state.real ??= new Native(state.body, state.init);
  return state.real;
}

/** The parts the fetch bridge can write directly, or undefined when the real Response is needed. */
export interface SimpleResponse {
  status: number;
  statusText: string;
  headers: HeadersInput;
  body: string | Uint8Array | null;
}

export function simpleParts(response: object): SimpleResponse | undefined {
  const state = (response as Partial<Light>)[STATE];
  if (!state || state.real) return undefined;
  return {
    status: state.init?.status ?? 200,
    statusText: state.init?.statusText ?? '',
    headers: state.init?.headers,
    body: state.body,
  };
}

function createLightResponse(): typeof Response {
  // A constructor function rather than a class: it returns a real Response when the arguments
  // are not simple, which a class constructor cannot do as cleanly.
  function LightResponse(this: Light, body?: BodyInput, init?: ResponseInit): NativeResponse {
    if (!new.target) throw new TypeError("Class constructor Response cannot be invoked without 'new'");
    if (!isSimpleBody(body) || !isSimpleInit(init)) return new Native(body, init);
    const nullBodyStatus = init?.status === 204 || init?.status === 205 || init?.status === 304;
    if (nullBodyStatus && body !== null && body !== undefined) return new Native(body, init);
    this[STATE] = { body: body ?? null, init, real: undefined };
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
        return this[STATE].real?.status ?? this[STATE].init?.status ?? 200;
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
        return this[STATE].real?.statusText ?? this[STATE].init?.statusText ?? '';
      },
    },
  });
  Object.defineProperty(LightResponse, Symbol.hasInstance, {
    value: (value: unknown) => value instanceof Native,
  });
  Object.defineProperty(LightResponse, 'name', { value: 'Response' });
  const statics = LightResponse as unknown as Record<string, unknown>;
  statics.error = () => Native.error();
  statics.redirect = (...args: Parameters<typeof Response.redirect>) => Native.redirect(...args);
  statics.json = (data: unknown, init?: ResponseInit) => {
    const headers = new Headers(init?.headers);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    const text = JSON.stringify(data);
    if (text === undefined) return Native.json(data, init);
    return new (LightResponse as unknown as typeof Response)(text, { ...init, headers });
  };
  return LightResponse as unknown as typeof Response;
}

let installed = false;

/** Replace the global Response with the light one (once per process). */
export function installLightResponse(): void {
  if (installed) return;
  installed = true;
  Object.defineProperty(globalThis, 'Response', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: createLightResponse(),
  });
}
