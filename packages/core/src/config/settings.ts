import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { APP_INTERFACES, type AppInterface } from '../app/interface.js';
import { KelpieError } from '../errors.js';
import { isAddressPattern } from '../http/forwarded.js';
import { ACCESS_LOG_ATOMS, compileAccessLogFormat, DEFAULT_ACCESS_LOG_FORMAT } from '../observability/access-log.js';
import { parseStatsdAddress } from '../observability/statsd.js';

/**
 * The settings table. Every setting is declared once, here: its flags, default, validation and
 * help text. The CLI parser, `--help`, KELPIE_CMD_ARGS, the effective configuration and
 * docs/settings.md are all derived from it (Gunicorn's config.py plays the same role).
 */

export type Env = Record<string, string | undefined>;

export interface SettingDef<T> {
  /** Section in --help and the docs, as in Gunicorn's settings reference. */
  readonly section: string;
  /** Command-line flags, long first is not required: `['-w', '--workers']`. */
  readonly flags: readonly string[];
  /** Placeholder for the value in --help (`INT`, `ADDRESS`); absent for switches. */
  readonly meta?: string;
  /** Repeatable flag whose values accumulate into a list. */
  readonly multiple?: boolean;
  /** A switch that takes no value. */
  readonly boolean?: boolean;
  /** Default, computed from the environment (PORT, WEB_CONCURRENCY). */
  readonly default: (env: Env) => T;
  /** How the default reads in --help and the docs. */
  readonly defaultText: string;
  /** Turn a raw value (a string from the CLI, or a config-file value) into T; throw on bad input. */
  readonly parse: (raw: unknown, name: string) => T;
  /** One line for --help. */
  readonly help: string;
  /** Longer explanation for the docs. */
  readonly doc?: string;
  /**
   * `restart`: HUP cannot change it (the arbiter keeps the old value and says so); a new value
   * takes effect on a restart or USR2. Absent: a HUP applies the new value.
   */
  readonly onHup?: 'restart';
}

function invalid(name: string, raw: unknown, allowed: string): KelpieError {
  return new KelpieError(
    'KELPIE_ERR_INVALID_SETTING',
    `Invalid value for ${name}: ${JSON.stringify(raw)}. Allowed: ${allowed}.`,
  );
}

/** The bounds of a numeric setting, shown in --help and docs/settings.md. */
export interface NumericRange {
  readonly min: number;
  readonly max: number;
  /** How the range reads, when not `MIN to MAX`. */
  readonly text?: string;
}

/** A parser that carries its bounds, so --help and the docs list them from the same numbers. */
function ranged<T>(parse: (raw: unknown, name: string) => T, range: NumericRange) {
  return Object.assign(parse, { range });
}

/** The range a setting's parser enforces, for numeric settings. */
export function rangeOf(def: SettingDef<unknown>): NumericRange | undefined {
  return (def.parse as { range?: NumericRange }).range;
}

/** How a range reads in --help, the docs and error messages. */
export function rangeText(range: NumericRange): string {
  return range.text ?? `${range.min} to ${range.max}`;
}

/**
 * Node's timers hold at most 2^31-1 ms: a longer delay fires after 1 ms instead (with a
 * TimeoutOverflowWarning), so every seconds-valued setting must fit, margins included.
 */
export const TIMER_MAX_MS = 2 ** 31 - 1;
/** 2147483 s, about 24.8 days: the most any timer setting may hold. */
export const TIMER_MAX_SECONDS = Math.floor(TIMER_MAX_MS / 1000);

/**
 * An integer from min to max. The maximum is required: every numeric setting has one, chosen for
 * what the value becomes (a timer, a count compared with another, a size the kernel caps).
 * Text beyond max, 1e20 included, is refused rather than read as an inexact number.
 */
function integer(min: number, max: number) {
  const allowed = `an integer from ${min} to ${max}`;
  return ranged(
    (raw: unknown, name: string): number => {
      const text = typeof raw === 'number' ? String(raw) : raw;
      if (typeof text !== 'string' || !/^-?\d+$/.test(text.trim())) throw invalid(name, raw, allowed);
      const value = Number.parseInt(text, 10);
      if (value < min || value > max) throw invalid(name, raw, allowed);
      return value;
    },
    { min, max },
  );
}

/** Seconds, fractions allowed (0.5), from 0 to max. */
function secondsUpTo(max: number) {
  const allowed = `a number of seconds from 0 to ${max}`;
  return ranged(
    (raw: unknown, name: string): number => {
      const text = typeof raw === 'number' ? String(raw) : raw;
      if (typeof text !== 'string' || !/^\d+(\.\d+)?$/.test(text.trim())) throw invalid(name, raw, allowed);
      const value = Number(text);
      if (value > max) throw invalid(name, raw, allowed);
      return value;
    },
    { min: 0, max },
  );
}

/** Seconds that become a timer as they are: at most TIMER_MAX_SECONDS. */
export const seconds = secondsUpTo(TIMER_MAX_SECONDS);

/**
 * Seconds that become a timer one second longer: the arbiter's kill after --graceful-timeout,
 * Node's socket timeout after --keep-alive (Node 24.6+ adds its 1 s keepAliveTimeoutBuffer).
 */
const secondsPlusOne = secondsUpTo(TIMER_MAX_SECONDS - 1);

/**
 * Ceilings of the settings that are not timers, and why.
 * - Workers: each is a Node.js process (tens of MB, a boot of its own); 4096 leaves room for
 *   several per CPU on the largest servers while a mistyped extra digit or two is refused.
 * - Threads (1024): each runs its own copy of the app in a V8 isolate of its own.
 * - Backlog (65535): the kernel caps it at net.core.somaxconn anyway; older kernels kept it in 16 bits.
 * - Request line (8190) and header fields (32768): Gunicorn's maxima.
 * - Worker connections: each is a descriptor, and Linux lets a process hold at most 1048576
 *   (the default fs.nr_open).
 * - Max requests and its jitter: counts compared with a counter, never timers; 10^15 each keeps
 *   their sum an exact integer (a worker at a million requests a second takes 30 years to get there).
 * - Worker memory: MB, multiplied by 2^20 to compare with the RSS; 16777216 MB (16 TiB) is past
 *   any process and keeps the product exact.
 * - Request head field size: the parser never buffers more than 16 MiB of request head.
 * - WebSocket message size: a message is held in one Buffer, at most 4 GiB on Node.js 20.
 * - Request body and WebSocket buffered bytes: only compared with byte counts, any exact integer works.
 */
export const MAX_WORKERS = 4096;
const MAX_CONNECTIONS = 1_048_576;
const MAX_REQUESTS = 1e15;
const MAX_WORKER_MEMORY_MB = 16_777_216;
const MAX_HEAD_BYTES = 16 * 1024 * 1024;
const MAX_WS_PAYLOAD = 2 ** 32;

function oneOf<const T extends string>(values: readonly T[]) {
  return (raw: unknown, name: string): T => {
    const text = typeof raw === 'string' ? raw.toLowerCase() : raw;
    if (typeof text === 'string' && (values as readonly string[]).includes(text)) return text as T;
    throw invalid(name, raw, values.join(', '));
  };
}

/** A switch: true or false (the command line gives true; a config file may give either). */
function onOff(raw: unknown, name: string): boolean {
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw invalid(name, raw, 'true or false');
}

/** A file mode mask: octal digits (022, 0o022) or a number. */
function umaskValue(raw: unknown, name: string): number {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 0o777) return raw;
  if (typeof raw === 'string') {
    const text = raw.trim().replace(/^0o/i, '');
    if (/^[0-7]{1,4}$/.test(text) && Number.parseInt(text, 8) <= 0o777) return Number.parseInt(text, 8);
  }
  throw invalid(name, raw, 'an octal file mode mask from 0 to 0777, such as 022 or 0o027');
}

/** A user or group: a name, or a numeric id. */
function account(raw: unknown, name: string): string | number {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return raw;
  if (typeof raw === 'string' && /^\d+$/.test(raw.trim())) return Number(raw.trim());
  if (typeof raw === 'string' && /^[a-z_][a-z0-9_.-]*\$?$/i.test(raw.trim())) return raw.trim();
  throw invalid(name, raw, 'a user or group name, or a numeric id');
}

function nonEmptyString(raw: unknown, name: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw invalid(name, raw, 'a non-empty string');
  return raw;
}

function stringList(check: (value: string, name: string) => void = () => {}) {
  return (raw: unknown, name: string): string[] => {
    const list = Array.isArray(raw) ? raw : [raw];
    return list.map((item) => {
      if (typeof item !== 'string' || item.trim() === '') throw invalid(name, item, 'a non-empty string');
      check(item, name);
      return item.trim();
    });
  };
}

function workersValue(raw: unknown, name: string): number {
  if (raw === 'auto') return Math.min(availableParallelism(), MAX_WORKERS);
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text === 'string' && /^\d+$/.test(text.trim()) && Number(text) >= 1 && Number(text) <= MAX_WORKERS) {
    return Number(text);
  }
  throw invalid(name, raw, `an integer from 1 to ${MAX_WORKERS}, or "auto" (one per available CPU)`);
}

/** Items of a list setting: an array, or comma-separated text (items trimmed, empty ones dropped). */
function commaList(raw: unknown): unknown[] {
  return (Array.isArray(raw) ? raw : [raw]).flatMap((item) =>
    typeof item === 'string'
      ? item
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [item],
  );
}

/** A list of IP addresses, CIDR ranges or `*`, as an array or comma-separated text. */
function addressPatterns(raw: unknown, name: string): string[] {
  const items = commaList(raw);
  for (const item of items) {
    if (typeof item !== 'string' || !isAddressPattern(item)) {
      throw invalid(name, item, 'comma-separated IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8), or *');
    }
  }
  return items as string[];
}

/** The control socket's default path: $XDG_RUNTIME_DIR/kelpie.ctl, else ~/.kelpie/kelpie.ctl (Gunicorn's places). */
export function defaultControlSocket(env: Env): string {
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'kelpie.ctl');
  return join(env.HOME || homedir(), '.kelpie', 'kelpie.ctl');
}

/** HOST:PORT for a TCP socket kelpie serves (metrics). */
function hostPort(raw: unknown, name: string): string {
  if (typeof raw === 'string') {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
    if (match && Number(match[3]) <= 65535) return raw.trim();
  }
  throw invalid(name, raw, 'HOST:PORT, such as 127.0.0.1:9100 or [::1]:9100 (port 0 picks a free one)');
}

export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function define<T>(def: SettingDef<T>): SettingDef<T> {
  return def;
}

/** A setting HUP cannot change: sockets, identity, files and servers opened once at start. */
function restartOnly<T>(def: SettingDef<T>): SettingDef<T> {
  return { ...def, onHup: 'restart' };
}

/** A switch: off unless given. */
function switchSetting(section: string, flags: string[], help: string, doc?: string): SettingDef<boolean> {
  return define<boolean>({
    section,
    flags,
    boolean: true,
    default: () => false,
    defaultText: 'off',
    parse: onOff,
    help,
    ...(doc ? { doc } : {}),
  });
}

export const settings = {
  bind: restartOnly(
    define<string[]>({
      section: 'Server Socket',
      flags: ['-b', '--bind'],
      meta: 'ADDRESS',
      multiple: true,
      default: (env) => (env.PORT ? [`0.0.0.0:${env.PORT}`] : ['127.0.0.1:8000']),
      defaultText: '127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set',
      parse: stringList(),
      help: 'The socket to bind: HOST, HOST:PORT, [IPV6]:PORT, unix:PATH or fd://FD. Repeatable.',
      doc: 'Every address is bound by the arbiter before any worker starts; workers inherit the listening sockets. Port 0 picks a free port (logged in "Listening at").',
    }),
  ),
  backlog: define<number>({
    section: 'Server Socket',
    flags: ['--backlog'],
    meta: 'INT',
    default: () => 2048,
    defaultText: '2048',
    parse: integer(1, 65535),
    help: 'The maximum number of pending connections.',
    doc: 'Passed to listen(2). Under `-k sync` it also bounds the connections waiting in the arbiter for a free worker; beyond it new connections are closed with a warning.',
  }),
  reusePort: restartOnly(
    switchSetting(
      'Server Socket',
      ['--reuse-port'],
      'Each worker also binds its own SO_REUSEPORT socket on every TCP address, so the kernel spreads connections over workers.',
      "Needs Node.js 22.12 or later (net.Server's `reusePort`); older versions stop with an error saying so. The arbiter still binds every address (with SO_REUSEPORT) and workers serve that socket too, so port 0, USR2 and socket activation work as without the flag. A worker that stops closes its own socket: connections the kernel had already queued on it are reset, which the shared socket alone avoids. So does a worker at --worker-connections, until it has room again (then it binds a new one). Not used by `-k sync`, whose arbiter accepts every connection.",
    ),
  ),
  proxyProtocol: define<'off' | 'v1' | 'v2' | 'auto'>({
    section: 'Server Socket',
    flags: ['--proxy-protocol'],
    meta: 'MODE',
    default: () => 'off',
    defaultText: 'off',
    parse: (raw, name) => {
      if (raw === true) return 'auto';
      if (raw === false) return 'off';
      return oneOf(['off', 'v1', 'v2', 'auto'] as const)(raw, name);
    },
    help: 'Read a PROXY protocol header (HAProxy, AWS NLB) first on every connection: off, v1, v2 or auto (either).',
    doc: "The client address and port in the header become the connection's peer (`req.socket.remoteAddress`, request info, framework `req.ip`). A connection that does not start with a header is served as a direct client (its peer stays the socket's), as in Gunicorn; a malformed header gets 400 and the connection is closed; a header from a peer outside --proxy-allow-from is refused (403, or closed when TLS is on); each is logged. `--proxy-protocol` with no value means auto, as in Gunicorn. A `LOCAL` v2 header (health checks) keeps the real peer.",
  }),
  proxyAllowFrom: define<string[]>({
    section: 'Server Socket',
    flags: ['--proxy-allow-from'],
    meta: 'LIST',
    default: () => ['127.0.0.1', '::1'],
    defaultText: '127.0.0.1,::1',
    parse: addressPatterns,
    help: 'Peers allowed to send a PROXY protocol header: IPs, CIDR ranges, or * for any.',
  }),
  sticky: restartOnly(
    switchSetting(
      'Server Socket',
      ['--sticky'],
      "Sticky sessions: every connection of one client goes to the same worker, chosen by the client's address (socket.io's long-polling needs this with several workers).",
      "The arbiter accepts every connection instead of the workers and hands it to a worker over IPC, chosen by rendezvous hashing of the client address over the worker slots: the peer address, or the address in the PROXY header under --proxy-protocol (from peers in --proxy-allow-from; the arbiter reads that header itself, within --header-timeout). A replaced worker's successor takes its slot, and its clients come back to it once it is ready; meanwhile, and for a worker that is stopping, they go to their second choice. TTIN moves about 1/N of the clients to the new worker, TTOU only those of the worker that leaves; after HUP the new generation takes the same slots. X-Forwarded-For is not used: a proxy's keep-alive connection carries many clients. Behind an HTTP proxy, every connection comes from the proxy's address and lands on one worker: have the proxy send the PROXY protocol, or balance by client address in front of several instances (nginx `ip_hash`); docs/frameworks.md has the recipes. For -k async and -k ws (and third-party classes that declare `static sticky = true`); refused with -k sync, -k threads and --reuse-port. A worker at --worker-connections closes a connection sent to it. Not changed by HUP. Costs throughput on short connections: every connection passes through the arbiter (docs/benchmarks.md).",
    ),
  ),
  certfile: define<string | null>({
    section: 'SSL',
    flags: ['--certfile'],
    meta: 'FILE',
    default: () => null,
    defaultText: 'none',
    parse: nonEmptyString,
    help: 'Serve HTTPS: the certificate chain (PEM). Needs --keyfile.',
    doc: 'Relative paths are relative to --chdir. The arbiter reads the files (before dropping to --user) and checks that certificate and key match before binding; workers get their contents. HUP reads them again, so a renewed certificate is picked up by the new workers.',
  }),
  keyfile: define<string | null>({
    section: 'SSL',
    flags: ['--keyfile'],
    meta: 'FILE',
    default: () => null,
    defaultText: 'none',
    parse: nonEmptyString,
    help: 'The private key of --certfile (PEM).',
  }),
  caCerts: define<string | null>({
    section: 'SSL',
    flags: ['--ca-certs'],
    meta: 'FILE',
    default: () => null,
    defaultText: 'none',
    parse: nonEmptyString,
    help: 'CA certificates (PEM) that client certificates are checked against (--cert-reqs).',
  }),
  certReqs: define<'none' | 'optional' | 'required'>({
    section: 'SSL',
    flags: ['--cert-reqs'],
    meta: 'MODE',
    default: () => 'none',
    defaultText: 'none',
    parse: (raw, name) => {
      const numeric: Record<string, 'none' | 'optional' | 'required'> = { 0: 'none', 1: 'optional', 2: 'required' };
      const key = typeof raw === 'number' ? String(raw) : raw;
      if (typeof key === 'string' && numeric[key.trim()]) return numeric[key.trim()] as 'none';
      return oneOf(['none', 'optional', 'required'] as const)(raw, name);
    },
    help: "Client certificates: none, optional (checked when sent) or required; Gunicorn's 0, 1, 2 work too.",
    doc: 'With `optional` or `required`, --ca-certs is needed. A client without a valid certificate fails the handshake under `required`; under `optional` its requests arrive with `req.socket.authorized` false.',
  }),
  ciphers: define<string | null>({
    section: 'SSL',
    flags: ['--ciphers'],
    meta: 'LIST',
    default: () => null,
    defaultText: "Node's default",
    parse: nonEmptyString,
    help: 'The TLS 1.2 cipher list, in OpenSSL format (TLS 1.3 suites are always on).',
  }),
  httpProtocols: define<('h1' | 'h2')[]>({
    section: 'SSL',
    flags: ['--http-protocols'],
    meta: 'LIST',
    default: () => ['h1'],
    defaultText: 'h1',
    parse: (raw, name) => {
      const items = (Array.isArray(raw) ? raw : String(raw).split(',')).map((item) =>
        String(item).trim().toLowerCase(),
      );
      if (
        items.length === 0 ||
        items.some((item) => item !== 'h1' && item !== 'h2') ||
        new Set(items).size !== items.length
      ) {
        throw invalid(name, raw, 'h1, h2 or both (h2,h1), each once');
      }
      return items as ('h1' | 'h2')[];
    },
    help: 'The HTTP versions to serve: h1, or h2,h1 for HTTP/2 over TLS (ALPN) with HTTP/1.1 for clients without it.',
    doc: 'HTTP/2 needs --certfile and --keyfile: browsers speak it only over TLS, and clients choose it during the handshake (ALPN); `h2` alone refuses HTTP/1.1 clients. Apps see the same interface over both versions: Node listeners get `http2` compatibility request and response objects (`req.httpVersion` is `2.0`), fetch apps the same Request and Response. WebSocket upgrades use HTTP/1.1 connections.',
  }),
  workers: define<number>({
    section: 'Worker Processes',
    flags: ['-w', '--workers'],
    meta: 'INT',
    default: (env) => (env.WEB_CONCURRENCY ? workersValue(env.WEB_CONCURRENCY, 'WEB_CONCURRENCY') : 1),
    defaultText: '$WEB_CONCURRENCY, else 1',
    parse: ranged(workersValue, { min: 1, max: MAX_WORKERS }),
    help: 'The number of worker processes; "auto" for one per available CPU.',
  }),
  workerClass: restartOnly(
    define<string>({
      section: 'Worker Processes',
      flags: ['-k', '--worker-class'],
      meta: 'NAME',
      default: () => 'async',
      defaultText: 'async',
      parse: nonEmptyString,
      help: 'The worker class: a short name (async), a package name or a path, with an optional #Export.',
      doc: "A short NAME is looked up as @kelpie/worker-NAME, then kelpie-worker-NAME, from the current directory first and then from kelpie's own install.",
    }),
  ),
  workerConnections: define<number>({
    section: 'Worker Processes',
    flags: ['--worker-connections'],
    meta: 'INT',
    default: () => 1000,
    defaultText: '1000',
    parse: integer(1, MAX_CONNECTIONS),
    help: 'The maximum number of simultaneous connections per worker (per thread under -k threads).',
    doc: 'A worker (a thread under -k threads) that reaches the limit stops accepting: it closes its own descriptor of the listening sockets, so new connections wait in the backlog or go to a worker with room instead of being accepted and reset, and it accepts again as soon as a connection closes (docs/worker-classes.md). It logs a warning at most once a second.',
  }),
  threads: define<number>({
    section: 'Worker Processes',
    flags: ['--threads'],
    meta: 'INT',
    default: () => 1,
    defaultText: '1',
    parse: integer(1, 1024),
    help: 'The number of worker threads per worker process (-k threads), each running its own copy of the app.',
    doc: 'As in Gunicorn, `-k sync` with `--threads` above 1 runs the threads worker class instead. Worker classes without threads ignore this setting and say so at startup.',
  }),
  maxRequests: define<number>({
    section: 'Worker Processes',
    flags: ['--max-requests'],
    meta: 'INT',
    default: () => 0,
    defaultText: '0',
    parse: integer(0, MAX_REQUESTS),
    help: 'A worker exits gracefully after this many requests and a new one takes its place; 0 disables.',
    doc: 'A simple guard against memory leaks. Counted per worker process, over all its threads.',
  }),
  maxRequestsJitter: define<number>({
    section: 'Worker Processes',
    flags: ['--max-requests-jitter'],
    meta: 'INT',
    default: () => 0,
    defaultText: '0',
    parse: integer(0, MAX_REQUESTS),
    help: "Add a random 0..INT to each worker's --max-requests, so workers do not all restart at once.",
  }),
  timeout: define<number>({
    section: 'Worker Processes',
    flags: ['-t', '--timeout'],
    meta: 'SECONDS',
    default: () => 30,
    defaultText: '30',
    parse: seconds,
    help: 'Workers silent for more than this many seconds are killed and restarted; 0 disables.',
    doc: 'Each worker reports a heartbeat from its event loop. A loop blocked past the timeout (a handler stuck in `while (true)`) stops the heartbeat, and the arbiter logs `WORKER TIMEOUT (pid:N)`, aborts the worker, kills it if it is still there a moment later, and starts a new one.',
  }),
  gracefulTimeout: define<number>({
    section: 'Worker Processes',
    flags: ['--graceful-timeout'],
    meta: 'SECONDS',
    default: () => 30,
    defaultText: '30',
    parse: secondsPlusOne,
    help: 'After a graceful stop (TERM) begins, workers still alive after this many seconds are killed.',
  }),
  keepAlive: define<number>({
    section: 'Worker Processes',
    flags: ['--keep-alive'],
    meta: 'SECONDS',
    default: () => 2,
    defaultText: '2',
    parse: secondsPlusOne,
    help: 'Seconds to wait for the next request on a keep-alive connection; 0 turns keep-alive off.',
  }),
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
    doc: 'A NAME is looked up as @kelpie/adapter-NAME, then kelpie-adapter-NAME, like worker classes. With `auto`, an app that looks like an Express, Koa or Fastify app is served through that adapter when it is installed, and as a plain app otherwise (with a log line saying what to install).',
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
    doc: "nginx's `send_timeout`; Gunicorn has none. A connection counts as stalled while it has bytes queued for the client and the kernel has taken none of them; a client that reads, however slowly, is never cut (within the kernel's buffering, see docs/security.md). At most 2147483 (Node's longest timer, about 24.8 days). Checked once a second, so a stalled connection is closed between SECONDS and SECONDS + 1 after its last progress, with a warning naming the client and the bytes left unsent (one line per worker every 10 s at most, with a count of the others). Applies to every connection of the shared HTTP layer (`-k async`, `sync`, `threads`, `ws`, upgraded connections included) and to HTTP/2 connections as a whole, not to single HTTP/2 streams.",
  }),
  config: define<string | null>({
    section: 'Config File',
    flags: ['-c', '--config'],
    meta: 'FILE',
    default: () => null,
    defaultText: './kelpie.config.{ts,mts,js,mjs,cjs} when present',
    parse: nonEmptyString,
    help: 'The config file: a module exporting defineConfig({...}) with settings and server hooks.',
    doc: 'Without this flag, the first of `kelpie.config.ts`, `.mts`, `.js`, `.mjs`, `.cjs` found in the current directory is used. Settings in the file override the defaults and the environment (`PORT`, `WEB_CONCURRENCY`); `KELPIE_CMD_ARGS` and the command line override the file. TypeScript config files load on every supported Node version. See docs/config.md.',
  }),
  checkConfig: switchSetting(
    'Config File',
    ['--check-config'],
    'Check the configuration, the worker class and the app, then exit: 0 if they are fine.',
  ),
  printConfig: switchSetting(
    'Config File',
    ['--print-config'],
    'Print every effective setting and where its value came from, then exit.',
  ),
  maxWorkerMemory: define<number>({
    section: 'Worker Processes',
    flags: ['--max-worker-memory'],
    meta: 'MB',
    default: () => 0,
    defaultText: '0 (off)',
    parse: integer(0, MAX_WORKER_MEMORY_MB),
    help: 'Recycle a worker gracefully when its resident memory stays above this many MB; 0 disables.',
    doc: 'Workers report their RSS with each heartbeat. A worker above the limit on two checks in a row, at least 5 seconds apart, logs a warning and is replaced the way --max-requests replaces one: a new worker starts, the old one finishes its requests and exits. PM2 (`max_memory_restart`) and Granian have the same guard; Gunicorn does not.',
  }),
  workerMinUptime: define<number>({
    section: 'Worker Processes',
    flags: ['--worker-min-uptime'],
    meta: 'SECONDS',
    default: () => 10,
    defaultText: '10',
    parse: seconds,
    help: 'A worker that exits on its own sooner than this after it started died young: its restart is delayed.',
    doc: "Crash-loop backoff, with --worker-restart-delay and --worker-restart-delay-max. Counted per worker slot: a worker that crashes, is killed by a signal or a timeout, or exits without being asked to, within this many seconds of its spawn, is a quick exit, and its replacement waits. A worker that lived this long clears its slot's count. Workers the arbiter retires (HUP, TTOU, --max-worker-memory, `kelpie ctl worker kill`) and workers recycled by --max-requests never count. At most 2147483 (Node's longest timer). PM2's `min_uptime`; systemd's `StartLimitIntervalSec` defaults to the same 10 s.",
  }),
  workerRestartDelay: define<number>({
    section: 'Worker Processes',
    flags: ['--worker-restart-delay'],
    meta: 'SECONDS',
    default: () => 0.1,
    defaultText: '0.1',
    parse: seconds,
    help: 'The delay before restarting a worker that died young; x1.5 for each further quick exit in a row. 0 disables.',
    doc: "The Nth quick exit in a row of a slot (see --worker-min-uptime) delays its restart by this times 1.5^(N-1), at most --worker-restart-delay-max: with the defaults 0.1 s, 0.15 s, 0.23 s, ... and 15 s from the 14th on, so a worker that cannot live costs one boot every 15 s instead of a busy core. Each delay is logged as a warning (`Worker (pid:N) exited 0.3 s after it started; its 5th quick exit in a row: restarting it in 0.5 s`) and counted in `kelpie_worker_restart_delays_total`. Signals are handled during a delay; a stop cancels the pending restart. 0 restarts at once, as before. A worker that cannot boot (exit 3 or 4) still stops the server instead. At most 2147483. PM2's `exp_backoff_restart_delay`.",
  }),
  workerRestartDelayMax: define<number>({
    section: 'Worker Processes',
    flags: ['--worker-restart-delay-max'],
    meta: 'SECONDS',
    default: () => 15,
    defaultText: '15',
    parse: seconds,
    help: 'The longest delay of the crash-loop backoff (--worker-restart-delay).',
    doc: "At most 2147483 (Node's longest timer). 15 s is PM2's cap.",
  }),
  reload: switchSetting(
    'Debugging',
    ['--reload'],
    "Replace the workers when a file of the app's directory changes (development).",
    "The arbiter watches the app's directory (recursively, without `node_modules` and dot-folders) and the `--reload-extra-file` files; changes within 300 ms are grouped into one reload, performed as HUP does it: new workers, then the old ones retire.",
  ),
  reloadExtraFile: define<string[]>({
    section: 'Debugging',
    flags: ['--reload-extra-file'],
    meta: 'FILE',
    multiple: true,
    default: () => [],
    defaultText: 'none',
    parse: stringList(),
    help: 'Also reload when this file changes (with --reload). Repeatable.',
  }),
  preload: switchSetting(
    'Server Mechanics',
    ['--preload'],
    'Load the app in the arbiter before starting workers, so a broken app fails before anything serves.',
    'Node cannot fork a process with its heap, so unlike Gunicorn this shares no memory with the workers: each worker still loads the app. What it gives is a fail-fast check (exit 4 before binding) and a warm module cache on disk. The app is loaded once, at start; the startup and shutdown hooks do not run in the arbiter.',
  ),
  daemon: restartOnly(
    switchSetting(
      'Server Mechanics',
      ['-D', '--daemon'],
      'Detach from the terminal and run in the background.',
      'The kelpie command starts a detached copy of itself in a new session, with standard input, output and error on /dev/null, relays the log lines of the copy until it has bound its addresses, and exits 0; a copy that fails to start makes it exit with the same status. Use `--pid` to find it later. What the daemon logs after that point is discarded; to keep it, run kelpie in the foreground under a supervisor (systemd, a container runtime), which collects its output.',
    ),
  ),
  pidfile: restartOnly(
    define<string | null>({
      section: 'Server Mechanics',
      flags: ['-p', '--pid'],
      meta: 'FILE',
      default: () => null,
      defaultText: 'none',
      parse: nonEmptyString,
      help: "Write the arbiter's pid to this file; refuse to start while it names a live process.",
      doc: 'The file is written atomically before the addresses are bound (a second server with the same file stops there, without touching the sockets) and removed at exit (only if it still holds this pid). A new arbiter started by USR2 writes FILE.2 and renames it to FILE when the old arbiter exits. kelpie never follows a symbolic link there: a link, or anything but a regular file, at FILE makes it refuse to start, and its temporary file gets a random name and is created exclusively (docs/security.md).',
    }),
  ),
  user: restartOnly(
    define<string | number | null>({
      section: 'Server Mechanics',
      flags: ['-u', '--user'],
      meta: 'USER',
      default: () => null,
      defaultText: 'the current user',
      parse: account,
      help: 'Run the workers as this user (name or uid); the arbiter binds first, so privileged ports work.',
    }),
  ),
  group: restartOnly(
    define<string | number | null>({
      section: 'Server Mechanics',
      flags: ['-g', '--group'],
      meta: 'GROUP',
      default: () => null,
      defaultText: "the user's group",
      parse: account,
      help: 'Run the workers as this group (name or gid).',
    }),
  ),
  umask: restartOnly(
    define<number | null>({
      section: 'Server Mechanics',
      flags: ['-m', '--umask'],
      meta: 'INT',
      default: () => null,
      defaultText: 'inherited',
      parse: ranged(umaskValue, { min: 0, max: 0o777, text: '0 to 0777 (octal)' }),
      help: 'Set the file mode creation mask of the arbiter and workers (octal, e.g. 022); affects unix socket modes.',
    }),
  ),
  chdir: restartOnly(
    define<string>({
      section: 'Server Mechanics',
      flags: ['--chdir'],
      meta: 'DIR',
      default: () => process.cwd(),
      defaultText: 'the current directory',
      parse: nonEmptyString,
      help: 'Change to this directory before loading the app and resolving worker classes.',
    }),
  ),
  env: define<string[]>({
    section: 'Server Mechanics',
    flags: ['-e', '--env'],
    meta: 'KEY=VALUE',
    multiple: true,
    default: () => [],
    defaultText: 'none',
    parse: stringList((value, name) => {
      if (!/^[^=\s]+=/.test(value)) throw invalid(name, value, 'KEY=VALUE');
    }),
    help: 'Set an environment variable in the arbiter and the workers. Repeatable.',
  }),
  extraListen: define<'refuse' | 'bind'>({
    section: 'Server Mechanics',
    flags: ['--extra-listen'],
    meta: 'POLICY',
    default: () => 'refuse',
    defaultText: 'refuse',
    parse: oneOf(['refuse', 'bind'] as const),
    help: 'What a second HTTP server the app listens with gets (an admin or metrics port): refuse (not opened, with a warning) or bind (opened as the app asks, in every worker, with a warning).',
    doc: "An app that calls `listen()` itself is served on kelpie's binds: its first HTTP server's listen never binds (SPEC.md 1.11). Another listen on the same port (Fastify's second address for `localhost`) is the same server. A listen on another port or path is a second server: with `refuse` it acts as listening (its `address()` is what it asked for) but is never reachable, and each worker logs a warning naming the port; with `bind` it is opened as asked in every worker, outside kelpie's request limits, access log, metrics and graceful drain. A fixed port is then bound with SO_REUSEPORT by every worker, so the kernel spreads its connections, where Node has `reusePort` (22.12 and later); on older Node one worker holds it and the others' listen fails with EADDRINUSE (the app's error handling decides). Servers that are not HTTP (`net.createServer`) are always left alone, with a warning when they listen beyond loopback.",
  }),
  procName: define<string | null>({
    section: 'Process Naming',
    flags: ['-n', '--name'],
    meta: 'STRING',
    default: () => null,
    defaultText: 'the APP_MODULE',
    parse: nonEmptyString,
    help: 'A base to use for process titles (kelpie: master [NAME]).',
  }),
  captureOutput: switchSetting(
    'Logging',
    ['--capture-output'],
    "Send the workers' standard output to the error log (stderr) too.",
  ),
  logLevel: define<LogLevel>({
    section: 'Logging',
    flags: ['--log-level'],
    meta: 'LEVEL',
    default: () => 'info',
    defaultText: 'info',
    parse: oneOf(LOG_LEVELS),
    help: `The granularity of log output: ${LOG_LEVELS.join(', ')}.`,
  }),
  accessLogfile: define<string | null>({
    section: 'Logging',
    flags: ['--access-logfile'],
    meta: 'FILE',
    default: () => null,
    defaultText: 'none',
    parse: nonEmptyString,
    help: 'Write an access log line per request to FILE; - means standard output.',
    doc: 'Each worker appends to the file itself. Lines are written in batches (every 100 ms, or at 64 KiB) with one asynchronous write each, so no request waits on the disk and lines of different workers never mix. USR1 opens the file again (logrotate).',
  }),
  accessLogformat: define<string>({
    section: 'Logging',
    flags: ['--access-logformat'],
    meta: 'STRING',
    default: () => DEFAULT_ACCESS_LOG_FORMAT,
    defaultText: DEFAULT_ACCESS_LOG_FORMAT,
    parse: (raw, name) => {
      const text = nonEmptyString(raw, name);
      compileAccessLogFormat(text, name);
      return text;
    },
    help: "The access log line, with Gunicorn's atoms: %(h)s, %(r)s, %(s)s, %({header}i)s...",
    doc: `Atoms: ${Object.entries(ACCESS_LOG_ATOMS)
      .map(([atom, meaning]) => `\`%(${atom})s\` ${meaning}`)
      .join(
        ', ',
      )}. The default is Apache's combined format. Values are quoted safely: \`"\` becomes \`\\"\` and control characters \`\\xHH\`, so a request cannot forge a line.`,
  }),
  errorLogfile: restartOnly(
    define<string>({
      section: 'Logging',
      flags: ['--error-logfile', '--log-file'],
      meta: 'FILE',
      default: () => '-',
      defaultText: '- (standard error)',
      parse: nonEmptyString,
      help: 'Write the error log (what the arbiter and workers report) to FILE; - means standard error.',
      doc: 'The arbiter and every worker append to the file. USR1 opens it again (logrotate). With `-D`, this is how a daemon keeps its log.',
    }),
  ),
  logFormat: restartOnly(
    define<'text' | 'json'>({
      section: 'Logging',
      flags: ['--log-format'],
      meta: 'FORMAT',
      default: () => 'text',
      defaultText: 'text',
      parse: oneOf(['text', 'json'] as const),
      help: "The error log's format: text (Gunicorn's) or json (one object per line, with pino's field names).",
      doc: 'JSON lines carry `level` (pino numbers: 20 debug, 30 info, 40 warning, 50 error, 60 critical), `time` (milliseconds since the epoch), `pid`, `hostname` and `msg`, plus `err` (`type`, `message`, `stack`) for errors, so pino tooling (pino-pretty, transports) reads them.',
    }),
  ),
  statsdHost: restartOnly(
    define<string | null>({
      section: 'Logging',
      flags: ['--statsd-host'],
      meta: 'HOST:PORT',
      default: () => null,
      defaultText: 'none',
      parse: (raw, name) => {
        if (typeof raw === 'string' && parseStatsdAddress(raw)) return raw.trim();
        throw invalid(
          name,
          raw,
          'HOST:PORT of a StatsD server over UDP (the port defaults to 8125), such as localhost:8125 or [::1]:8125',
        );
      },
      help: "Send Gunicorn's StatsD metrics (as kelpie.*) to this UDP address.",
      doc: 'Workers send `kelpie.requests` (counter), `kelpie.request.duration` (timer, milliseconds) and `kelpie.request.status.<code>` (counter) for each response; the arbiter sends `kelpie.workers` (gauge) every second. Packets are buffered (1400 bytes or 100 ms) by the hot-shots client; a StatsD server that is down costs one warning, not errors per request.',
    }),
  ),
  statsdPrefix: restartOnly(
    define<string>({
      section: 'Logging',
      flags: ['--statsd-prefix'],
      meta: 'STRING',
      default: () => '',
      defaultText: 'none',
      parse: (raw, name) => {
        if (typeof raw === 'string' && /^[\w.-]*$/.test(raw.trim())) return raw.trim();
        throw invalid(name, raw, 'letters, digits, _, - and . (such as myapp or myapp.web)');
      },
      help: 'Prefix of the StatsD metric names (a dot is added): myapp gives myapp.kelpie.requests.',
    }),
  ),
  dogstatsdTags: restartOnly(
    define<string[]>({
      section: 'Logging',
      flags: ['--dogstatsd-tags'],
      meta: 'LIST',
      default: () => [],
      defaultText: 'none',
      parse: (raw, name) => {
        const items = commaList(raw);
        for (const item of items) {
          if (typeof item !== 'string' || /[|#,\s]/.test(item))
            throw invalid(name, item, 'comma-separated tags such as env:prod,app:shop');
        }
        return items as string[];
      },
      help: 'Comma-separated DogStatsD tags added to every StatsD metric (env:prod,app:shop).',
    }),
  ),
  metricsBind: restartOnly(
    define<string | null>({
      section: 'Metrics',
      flags: ['--metrics-bind'],
      meta: 'HOST:PORT',
      default: () => null,
      defaultText: 'none',
      parse: hostPort,
      help: 'Serve Prometheus /metrics (summed over all workers) and /healthz on this address, apart from the app.',
      doc: "The arbiter serves it on a socket of its own, never on the app's. `/metrics`: requests and their durations by status, requests in flight, worker restarts by reason, workers, and each worker's memory and event-loop lag, in Prometheus' text format (prom-client). `/healthz`: 200 once every worker has booted, 503 before that and while shutting down (a readiness probe). Workers count responses only when this is set. See docs/observability.md.",
    }),
  ),
  controlSocket: restartOnly(
    define<string>({
      section: 'Control',
      flags: ['--control-socket'],
      meta: 'PATH',
      default: defaultControlSocket,
      defaultText: '$XDG_RUNTIME_DIR/kelpie.ctl, or ~/.kelpie/kelpie.ctl',
      parse: nonEmptyString,
      help: 'The unix socket `kelpie ctl` talks to (mode 0600).',
      doc: 'The arbiter listens on it for `kelpie ctl` (status, top, reload, workers add/remove, worker kill, reopen, shutdown). A socket another running kelpie answers on is left alone (this server then has none, with a warning); a stale one is replaced. Relative paths are relative to --chdir.',
    }),
  ),
  controlSocketDisable: restartOnly(
    switchSetting('Control', ['--no-control-socket'], 'Do not open the control socket.'),
  ),
} as const;

export type SettingName = keyof typeof settings;

/** The settings a HUP cannot change (`onHup: 'restart'` in the table above). */
export const RESTART_ONLY_SETTINGS: readonly SettingName[] = (
  Object.entries(settings) as [SettingName, SettingDef<unknown>][]
)
  .filter(([, def]) => def.onHup === 'restart')
  .map(([name]) => name);

/** The effective settings: one value per entry of the table. */
export type Settings = {
  -readonly [K in SettingName]: (typeof settings)[K] extends SettingDef<infer T> ? T : never;
};

/**
 * The worker class the settings ask for. As in Gunicorn, the sync class with more than one thread
 * means the threaded class.
 */
export function effectiveWorkerClass(values: Pick<Settings, 'workerClass' | 'threads'>): string {
  return values.workerClass === 'sync' && values.threads > 1 ? 'threads' : values.workerClass;
}

/** Settings with their values parsed, defaults applied from the given environment. */
export function defaultSettings(env: Env = process.env): Settings {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(settings) as [SettingName, SettingDef<unknown>][]) {
    out[name] = def.default(env);
  }
  return out as Settings;
}
