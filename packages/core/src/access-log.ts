import { closeSync, openSync, write, writeSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KelpieError } from './errors.js';
import { onReopen } from './logger.js';

/**
 * The access log: one line per response, in Gunicorn's `--access-logformat` (Apache's combined
 * format by default), written by each worker to `--access-logfile` (`-`: standard output).
 *
 * Lines are collected in memory and written together, at most every 100 ms or once 64 KiB are
 * waiting, with one asynchronous write() each: a request never waits on the disk, and lines from
 * several workers appending to the same file stay whole (O_APPEND writes do not interleave).
 */

export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

/** Gunicorn's atoms, for the documentation and the error message. */
export const ACCESS_LOG_ATOMS: Record<string, string> = {
  h: 'remote address',
  l: "'-'",
  u: 'user name (HTTP Basic authentication)',
  t: 'date of the request',
  r: 'status line (GET /path?q HTTP/1.1)',
  m: 'request method',
  U: 'URL path without query string',
  q: 'query string',
  H: 'protocol (HTTP/1.1)',
  s: 'status',
  B: 'response length',
  b: "response length or '-'",
  f: 'referer',
  a: 'user agent',
  T: 'request time in seconds',
  M: 'request time in milliseconds',
  D: 'request time in microseconds',
  L: 'request time in decimal seconds',
  p: 'process id (<1234>)',
  '{header}i': 'request header',
  '{header}o': 'response header',
  '{variable}e': 'environment variable',
};

/** What is known of a request once its response is finished. */
export interface AccessRecord {
  req: IncomingMessage;
  res: ServerResponse;
  /** process.hrtime.bigint() when the request arrived. */
  start: bigint;
  /** Date.now() when the request arrived. */
  startMs: number;
  /** Body bytes sent (undefined when unknown). */
  sent: number | undefined;
}

type Atom = (record: AccessRecord, elapsedNs: bigint) => string;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** Apache's `[21/Nov/2026:09:15:00 +0000]`, in local time. */
export function accessLogTime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const zone = `${offset >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return `[${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}]`;
}

// The date changes once a second: format it once a second, not once per request.
let cachedSecond = -1;
let cachedTime = '';
function timeOf(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedTime = accessLogTime(new Date(second * 1000));
  }
  return cachedTime;
}

/** A value as it goes into the line: `"` escaped (Gunicorn), control characters as \xHH (no forged lines). */
function safe(value: string | number | undefined | null): string {
  if (value === undefined || value === null || value === '') return '-';
  const text = String(value);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
  return /["\\\x00-\x1f\x7f]/.test(text)
    ? // biome-ignore lint/suspicious/noControlCharactersInRegex: the same set
      text.replace(/["\\\x00-\x1f\x7f]/g, (c) =>
        c === '"' ? '\\"' : c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
      )
    : text;
}

function header(value: string | string[] | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function basicUser(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (!auth || !/^basic /i.test(auth)) return undefined;
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? decoded.slice(0, colon) : undefined;
}

function target(req: IncomingMessage): { path: string; query: string } {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

const ATOMS: Record<string, Atom> = {
  h: ({ req }) => safe(req.socket?.remoteAddress),
  l: () => '-',
  u: ({ req }) => safe(basicUser(req)),
  t: ({ startMs }) => timeOf(startMs),
  r: ({ req }) => safe(`${req.method} ${req.url} HTTP/${req.httpVersion}`),
  m: ({ req }) => safe(req.method),
  U: ({ req }) => safe(target(req).path),
  q: ({ req }) => safe(target(req).query),
  H: ({ req }) => `HTTP/${req.httpVersion}`,
  s: ({ res }) => String(res.statusCode),
  B: ({ sent }) => String(sent ?? 0),
  b: ({ sent }) => (sent === undefined ? '-' : String(sent)),
  f: ({ req }) => safe(header(req.headers.referer)),
  a: ({ req }) => safe(header(req.headers['user-agent'])),
  T: (_r, ns) => String(ns / 1_000_000_000n),
  M: (_r, ns) => String(ns / 1_000_000n),
  D: (_r, ns) => String(ns / 1_000n),
  L: (_r, ns) => (Number(ns) / 1e9).toFixed(6),
  p: () => `<${process.pid}>`,
};

/**
 * Compile an `--access-logformat` into a function of a finished request. Throws a KelpieError
 * naming an unknown atom.
 */
export function compileAccessLogFormat(format: string, name = '--access-logformat'): (record: AccessRecord) => string {
  const parts: (string | Atom)[] = [];
  const pattern = /%\(([^)]*)\)s/g;
  let last = 0;
  for (const match of format.matchAll(pattern)) {
    parts.push(format.slice(last, match.index));
    last = (match.index ?? 0) + match[0].length;
    const atom = match[1] as string;
    const braced = /^\{([^}]+)\}([ioe])$/.exec(atom);
    if (braced) {
      const key = (braced[1] as string).toLowerCase();
      const original = braced[1] as string;
      if (braced[2] === 'i') parts.push(({ req }) => safe(header(req.headers[key])));
      else if (braced[2] === 'o') parts.push(({ res }) => safe(header(res.getHeader(key))));
      else parts.push(() => safe(process.env[original]));
    } else if (ATOMS[atom]) {
      parts.push(ATOMS[atom]);
    } else {
      throw new KelpieError(
        'KELPIE_ERR_INVALID_SETTING',
        `Invalid value for ${name}: unknown atom %(${atom})s in ${JSON.stringify(format)}. Allowed: ${Object.keys(
          ACCESS_LOG_ATOMS,
        )
          .map((a) => `%(${a})s`)
          .join(' ')}.`,
      );
    }
  }
  parts.push(format.slice(last));
  const pieces = parts.filter((part) => part !== '');
  return (record) => {
    const elapsed = process.hrtime.bigint() - record.start;
    let line = '';
    for (const piece of pieces) line += typeof piece === 'string' ? piece : piece(record, elapsed);
    return line;
  };
}

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 100;

/**
 * Lines for one file, written in batches. `reopen()` (USR1) opens the path again, for logrotate;
 * `flushSync()` writes what is left when the process exits.
 */
export class LogFileWriter {
  readonly #path: string;
  #fd: number;
  #pending: string[] = [];
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing = false;

  constructor(path: string) {
    this.#path = path;
    this.#fd = path === '-' ? 1 : openSync(path, 'a', 0o644);
    onReopen(this);
    process.once('exit', () => this.flushSync());
  }

  get path(): string {
    return this.#path;
  }

  write(line: string): void {
    this.#pending.push(line);
    this.#size += line.length;
    if (this.#size >= FLUSH_BYTES) this.#flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#flush(), FLUSH_MS);
      this.#timer.unref();
    }
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#writing || this.#pending.length === 0) return;
    const text = this.#pending.join('');
    this.#pending = [];
    this.#size = 0;
    this.#writing = true;
    const data = Buffer.from(text);
    const fd = this.#fd;
    const writeFrom = (offset: number) => {
      write(fd, data, offset, data.length - offset, null, (error, written) => {
        if (!error && offset + written < data.length) return writeFrom(offset + written);
        this.#writing = false;
        if (this.#pending.length > 0) this.#flush();
      });
    };
    writeFrom(0);
  }

  /** Open the file again (after logrotate moved it); lines waiting go to the new file. */
  reopen(): void {
    if (this.#path === '-') return;
    const previous = this.#fd;
    this.#fd = openSync(this.#path, 'a', 0o644);
    // A write under way keeps the old descriptor until it is done; closing it is left to exit.
    if (!this.#writing) closeSync(previous);
  }

  flushSync(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const text = this.#pending.join('');
    this.#pending = [];
    this.#size = 0;
    try {
      writeSync(this.#fd, text);
    } catch {
      // Exiting: nowhere left to report it.
    }
  }
}

const writers = new Map<string, LogFileWriter>();

/**
 * The access logger of `--access-logfile`/`--access-logformat` for this process (one writer per
 * file), or undefined when there is no access log. Call it as a request starts.
 */
export function accessLogger(settings: {
  accessLogfile: string | null;
  accessLogformat: string;
}): ((req: IncomingMessage, res: ServerResponse) => void) | undefined {
  const path = settings.accessLogfile;
  if (!path) return undefined;
  let writer = writers.get(path);
  if (!writer) {
    writer = new LogFileWriter(path);
    writers.set(path, writer);
  }
  const out = writer;
  const format = compileAccessLogFormat(settings.accessLogformat);
  return (req, res) => {
    const record: AccessRecord = { req, res, start: process.hrtime.bigint(), startMs: Date.now(), sent: 0 };
    // Body bytes as the app writes them (chunked framing is not body, so the socket's count will not do).
    const write = res.write;
    const end = res.end;
    const count = (chunk: unknown, encoding: unknown) => {
      if (typeof chunk === 'string')
        record.sent =
          (record.sent ?? 0) +
          Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      else if (chunk && typeof (chunk as Uint8Array).byteLength === 'number')
        record.sent = (record.sent ?? 0) + (chunk as Uint8Array).byteLength;
    };
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
      count(chunk, rest[0]);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof res.write;
    res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      if (typeof chunk !== 'function') count(chunk, rest[0]);
      return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
    } as typeof res.end;
    res.once('close', () => out.write(`${format(record)}\n`));
  };
}
