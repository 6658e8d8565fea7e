import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Settings } from '../config/settings.js';
import { forwardedClientOf, peerIsTrusted, peerTrust } from './forwarded.js';

/**
 * The facts about a request after proxy resolution, for every app shape: the scheme the client
 * used and its address. Headers are believed only from a peer in --forwarded-allow-ips: the
 * scheme from --secure-scheme-headers, the client from X-Forwarded-For (the first hop, walking
 * in from the peer, that trusted proxies vouch for).
 *
 * Fetch apps get it as the second argument of their handler, and in `request.url`'s scheme;
 * Node-listener apps read it with `requestInfo(req)` (from `kelpie` or `@kelpie/core`), or from
 * `req[Symbol.for('kelpie.request-info')]`, which works whatever copy of core loaded the app.
 */
export interface RequestInfo {
  /** `https` when the connection is TLS, or a trusted proxy's secure-scheme header says so. */
  scheme: 'http' | 'https';
  /** The client's address: the socket peer, or what trusted proxies reported. */
  clientAddress: string;
  /** The socket peer's port (a proxy's, behind one). */
  remotePort: number | undefined;
  /** The socket peer: the client itself, or the nearest proxy. */
  peerAddress: string;
  /** The peer is in --forwarded-allow-ips, so its forwarded headers were read. */
  trustedPeer: boolean;
  /** The Node request, for fetch apps that need more (Hono's node helpers read `incoming`). */
  incoming: IncomingMessage;
}

export const REQUEST_INFO = Symbol.for('kelpie.request-info');

interface Config {
  trusted: (address: string | undefined) => boolean;
  /** Lower-case header name → the value that means https. */
  secure: [string, string][];
}

/**
 * Kept on globalThis, not in this module: an app may import `requestInfo` from its own copy of
 * kelpie (another version in its node_modules), which must see the settings of the copy serving it.
 */
const CONFIG = Symbol.for('kelpie.request-info.config');
const shared = globalThis as { [CONFIG]?: Config };
/** Before any server of this process or thread is configured: no peer is trusted. */
const UNCONFIGURED: Config = { trusted: () => false, secure: [] };
const current = (): Config => shared[CONFIG] ?? UNCONFIGURED;

/** Called by core's HTTP layer with the worker's settings. */
export function configureRequestInfo(settings: Pick<Settings, 'forwardedAllowIps' | 'secureSchemeHeaders'>): void {
  shared[CONFIG] = {
    trusted: peerTrust(settings.forwardedAllowIps),
    secure: settings.secureSchemeHeaders.map((pair) => {
      const eq = pair.indexOf('=');
      return [
        pair.slice(0, eq).trim().toLowerCase(),
        pair
          .slice(eq + 1)
          .trim()
          .toLowerCase(),
      ];
    }),
  };
}

export type ForwardedScheme = 'http' | 'https' | 'conflict' | undefined;

/**
 * What the secure-scheme headers of a trusted peer say: 'https', 'http', undefined (none sent),
 * or 'conflict' when they disagree (the request is refused with 400, as in Gunicorn).
 */
export function forwardedScheme(req: IncomingMessage): ForwardedScheme {
  let said: 'http' | 'https' | undefined;
  let conflict = false;
  const config = current();
  for (const [name, secureValue] of config.secure) {
    const value = req.headers[name];
    if (value === undefined) continue;
    const text = (Array.isArray(value) ? value.join(',') : value).trim().toLowerCase();
    const scheme = text === secureValue ? 'https' : 'http';
    if (said !== undefined && said !== scheme) conflict = true;
    said = scheme;
  }
  // The headers are only read (and only wrong) when a trusted peer sent them.
  if (said === undefined || !peerIsTrusted(req.socket, config.trusted)) return undefined;
  return conflict ? 'conflict' : said;
}

function forwardedFor(req: IncomingMessage): string | undefined {
  const header = req.headers['x-forwarded-for'];
  return header === undefined ? undefined : forwardedClientOf(header, current().trusted);
}

/** The request's facts. Computed on each call (cheap: a set lookup and a few headers), so nothing is added to `req`. */
export function requestInfo(req: IncomingMessage): RequestInfo {
  const peer = req.socket?.remoteAddress ?? '';
  const trustedPeer = peerIsTrusted(req.socket, current().trusted);
  const encrypted = Boolean((req.socket as TLSSocket | undefined)?.encrypted);
  const forwarded = trustedPeer ? forwardedScheme(req) : undefined;
  return {
    scheme: encrypted || forwarded === 'https' ? 'https' : 'http',
    clientAddress: (trustedPeer && forwardedFor(req)) || peer,
    remotePort: req.socket?.remotePort,
    peerAddress: peer,
    trustedPeer,
    incoming: req,
  };
}

/** The fetch handler's second argument: the same facts, worked out only if the app reads them. */
export class LazyRequestInfo implements RequestInfo {
  readonly #req: IncomingMessage;
  #info: RequestInfo | undefined;
  constructor(req: IncomingMessage) {
    this.#req = req;
  }
  #facts(): RequestInfo {
    this.#info ??= requestInfo(this.#req);
    return this.#info;
  }
  get scheme(): 'http' | 'https' {
    return this.#facts().scheme;
  }
  get clientAddress(): string {
    return this.#facts().clientAddress;
  }
  get remotePort(): number | undefined {
    return this.#req.socket?.remotePort;
  }
  get peerAddress(): string {
    return this.#req.socket?.remoteAddress ?? '';
  }
  get trustedPeer(): boolean {
    return this.#facts().trustedPeer;
  }
  get incoming(): IncomingMessage {
    return this.#req;
  }
  toJSON(): Omit<RequestInfo, 'incoming'> {
    const { incoming: _incoming, ...facts } = this.#facts();
    return facts;
  }
}

/**
 * `req[Symbol.for('kelpie.request-info')]`: one getter on a request prototype, nothing per
 * request. The server factory (create-server.ts) adds it to IncomingMessage, and to
 * Http2ServerRequest for an HTTP/2 server, when it creates a server: importing core changes no
 * prototype.
 */
export function defineRequestInfoGetter(prototype: object): void {
  if (Object.getOwnPropertyDescriptor(prototype, REQUEST_INFO)) return;
  Object.defineProperty(prototype, REQUEST_INFO, {
    configurable: true,
    get(this: IncomingMessage) {
      return requestInfo(this);
    },
  });
}
