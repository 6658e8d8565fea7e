import { ADAPTER_FRAMEWORKS, BUILTIN_PLUGINS } from './builtin-plugins.js';
import { APP_INTERFACES, type AppInterface } from './choices.js';
import {
  addressPatterns,
  commaList,
  integer,
  invalid,
  MAX_HEAD_BYTES,
  MAX_WS_PAYLOAD,
  nonEmptyString,
  oneOf,
  seconds,
} from './parsers.js';
import { define, switchSetting } from './setting-def.js';

/**
 * What the app sees of HTTP: frameworks and proxies, WebSockets, and the request limits (sections Frameworks, WebSockets and Security).
 * Entries of the settings table (settings.ts assembles them, in the order of --help and docs/settings.md).
 */

/** `A, B or C`. */
function oneOfText(items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/** The built-in worker classes as the docs name them: `-k async`, `sync`, `threads`, `ws`. */
function workerClassList(): string {
  return BUILTIN_PLUGINS.worker.map((name, i) => `\`${i === 0 ? '-k ' : ''}${name}\``).join(', ');
}

/** Frameworks and WebSockets. */
export const frameworkSettings = {
  interface: define<AppInterface>({
    section: 'Frameworks',
    flags: ['--interface'],
    meta: 'INTERFACE',
    default: () => 'auto',
    defaultText: 'auto',
    parse: oneOf(APP_INTERFACES),
    help: 'How an app that is a bare function is called: auto (decided from the function), node (a Node listener (req, res)) or fetch (a fetch handler (request, ...context) => Response).',
    doc: "As uvicorn's `--interface`. Objects are recognized by their methods whatever this says (`fetch`, `callback()`, a Fastify instance). With `auto`, an Express or Connect app and a function whose second parameter is named like a response (`res`, `response`, `reply`) are Node listeners; one whose second parameter is named like a context (`env`, `ctx`, `context`, `loadContext`, `initialContext`, `info`, `server`, `platform`), such as React Router's `createRequestHandler(build)`, is a fetch handler; otherwise a function declaring two or more parameters is a Node listener and one declaring fewer a fetch handler (SPEC.md 1.5.1). When only the parameter count decided and a request then fails in a way that says the guess was wrong (`Invalid URL`, a Response returned to a Node call, `res.end is not a function`), the error log line names the value that fixes it, once per worker.",
  }),
  adapter: define<string>({
    section: 'Frameworks',
    flags: ['--adapter'],
    meta: 'NAME',
    default: () => 'auto',
    defaultText: 'auto',
    parse: nonEmptyString,
    help: 'The framework adapter: auto (chosen from the app), none, or a name, package or path.',
    doc: `A NAME is looked up as @kelpie/adapter-NAME, then kelpie-adapter-NAME, like worker classes. With \`auto\`, an app that looks like an ${oneOfText(Object.values(ADAPTER_FRAMEWORKS))} app is served through that adapter when it is installed, and as a plain app otherwise (with a log line saying what to install).`,
  }),
  forwardedAllowIps: define<string[]>({
    section: 'Frameworks',
    flags: ['--forwarded-allow-ips'],
    meta: 'LIST',
    default: (env) =>
      env.FORWARDED_ALLOW_IPS === undefined
        ? ['127.0.0.1', '::1']
        : addressPatterns(env.FORWARDED_ALLOW_IPS, 'FORWARDED_ALLOW_IPS'),
    defaultText: '127.0.0.1,::1, or $FORWARDED_ALLOW_IPS',
    parse: addressPatterns,
    help: 'Peers whose X-Forwarded-* headers are trusted: IPs, CIDR ranges, or * for any.',
    doc: "Framework adapters map this onto the framework's own setting (Express's `trust proxy`, Koa's `app.proxy`, Fastify's `trustProxy`) and remove forwarded headers sent by any other peer, so `req.ip`, `ctx.ip` and the protocol reflect trusted proxies only. Connections on a unix socket are always trusted, as in Gunicorn (only local processes can open the socket file).",
  }),
  secureSchemeHeaders: define<string[]>({
    section: 'Frameworks',
    flags: ['--secure-scheme-headers'],
    meta: 'LIST',
    default: () => ['X-Forwarded-Protocol=ssl', 'X-Forwarded-Proto=https', 'X-Forwarded-Ssl=on'],
    defaultText: 'X-Forwarded-Protocol=ssl,X-Forwarded-Proto=https,X-Forwarded-Ssl=on',
    parse: (raw, name) => {
      const items =
        raw !== null && typeof raw === 'object' && !Array.isArray(raw)
          ? Object.entries(raw).map(([header, value]) => `${header}=${String(value)}`)
          : commaList(raw);
      for (const item of items) {
        if (typeof item !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+=\S+$/.test(item)) {
          throw invalid(name, item, 'HEADER=VALUE pairs, comma-separated (X-Forwarded-Proto=https)');
        }
      }
      return items as string[];
    },
    help: 'Headers, and the value meaning https, that a trusted proxy (--forwarded-allow-ips) sets on https requests.',
    doc: 'As Gunicorn\'s `secure_scheme_headers`. From a peer in `--forwarded-allow-ips`, a header with its value means the client used https; with another value, http; headers that disagree get 400. From any other peer they are ignored. In a config file, an object `{ "X-Forwarded-Proto": "https" }` works too. Fetch apps see the scheme in `request.url`; Node listeners read `requestInfo(req)` (docs/proxies.md).',
  }),
  wsMaxPayload: define<number>({
    section: 'WebSockets',
    flags: ['--ws-max-payload'],
    meta: 'BYTES',
    default: () => 16 * 1024 * 1024,
    defaultText: '16777216 (16 MiB)',
    parse: integer(1, MAX_WS_PAYLOAD),
    help: 'The largest WebSocket message accepted (-k ws); a bigger one closes the connection with 1009.',
  }),
  wsPingInterval: define<number>({
    section: 'WebSockets',
    flags: ['--ws-ping-interval'],
    meta: 'SECONDS',
    default: () => 25,
    defaultText: '25',
    parse: seconds,
    help: 'Ping every WebSocket this often (-k ws); one that has not answered the previous ping is dropped. 0 disables.',
  }),
  wsPerMessageDeflate: switchSetting(
    'WebSockets',
    ['--ws-per-message-deflate'],
    'Offer the permessage-deflate extension (-k ws): smaller messages for more CPU and memory per connection.',
    "Off by default, as the `ws` package recommends: compression keeps a zlib context per connection, which costs memory and CPU, and Node's zlib runs on a small thread pool that many connections contend for.",
  ),
  wsMaxBuffered: define<number>({
    section: 'WebSockets',
    flags: ['--ws-max-buffered'],
    meta: 'BYTES',
    default: () => 8 * 1024 * 1024,
    defaultText: '8388608 (8 MiB)',
    parse: integer(1, Number.MAX_SAFE_INTEGER),
    help: 'Most bytes queued for one slow WebSocket reader (-k ws); beyond it the connection is dropped.',
    doc: 'Sending to a client that does not read fills memory. After each send, a connection whose unsent bytes exceed this is closed at once, and a warning is logged.',
  }),
} as const;

/** Security: request limits and timeouts. */
export const limitSettings = {
  limitRequestLine: define<number>({
    section: 'Security',
    flags: ['--limit-request-line'],
    meta: 'INT',
    default: () => 4094,
    defaultText: '4094',
    parse: integer(0, 8190),
    help: 'The longest request line in bytes (method, target, version); longer gets 414. 0 means unlimited.',
    doc: 'Counted without the line ending: `GET /path HTTP/1.1` is 18 bytes. A request line exactly at the limit passes; one byte more gets 414. With 0 the line is bounded only by the parser buffer (64 KiB plus what the header limits allow).',
  }),
  limitRequestFields: define<number>({
    section: 'Security',
    flags: ['--limit-request-fields'],
    meta: 'INT',
    default: () => 100,
    defaultText: '100',
    parse: integer(0, 32768),
    help: 'The most header fields in a request; more gets 431. 0 means unlimited (up to 32768).',
  }),
  limitRequestFieldSize: define<number>({
    section: 'Security',
    flags: ['--limit-request-field_size'],
    meta: 'INT',
    default: () => 8190,
    defaultText: '8190',
    parse: integer(0, MAX_HEAD_BYTES),
    help: 'The longest header field in bytes (`Name: value`); longer gets 431. 0 means unlimited.',
    doc: "Counted as the field line without its line ending: `Host: example.com` is 17 bytes. The flag keeps Gunicorn's spelling, underscore included.",
  }),
  limitRequestBody: define<number>({
    section: 'Security',
    flags: ['--limit-request-body'],
    meta: 'BYTES',
    default: () => 0,
    defaultText: '0 (off)',
    parse: integer(0, Number.MAX_SAFE_INTEGER),
    help: 'The largest request body in bytes; larger gets 413 and the connection closes. 0 means no limit.',
    doc: 'Beyond Gunicorn. A `Content-Length` above the limit is refused before the app runs; a chunked body is counted as it arrives and cut off with 413 (or a closed connection if the app has already answered) when it passes the limit.',
  }),
  headerTimeout: define<number>({
    section: 'Security',
    flags: ['--header-timeout'],
    meta: 'SECONDS',
    default: () => 10,
    defaultText: '10',
    parse: seconds,
    help: 'A client must send its complete request head within this many seconds, or gets 408 and is dropped.',
    doc: 'Guards against slow clients that hold connections open by sending headers a byte at a time (slowloris). Checked once a second. Applies to every request on a connection, from its first byte.',
  }),
  sendTimeout: define<number>({
    section: 'Security',
    flags: ['--send-timeout'],
    meta: 'SECONDS',
    default: () => 60,
    defaultText: '60',
    parse: seconds,
    help: 'Close a connection whose response makes no write progress for this many seconds (a client that does not read); 0 disables.',
    doc: `nginx's \`send_timeout\`; Gunicorn has none. A connection counts as stalled while it has bytes queued for the client and the kernel has taken none of them; a client that reads, however slowly, is never cut (within the kernel's buffering, see docs/security.md). At most 2147483 (Node's longest timer, about 24.8 days). Checked once a second, so a stalled connection is closed between SECONDS and SECONDS + 1 after its last progress, with a warning naming the client and the bytes left unsent (one line per worker every 10 s at most, with a count of the others). Applies to every connection of the shared HTTP layer (${workerClassList()}, upgraded connections included) and to HTTP/2 connections as a whole, not to single HTTP/2 streams.`,
  }),
} as const;
