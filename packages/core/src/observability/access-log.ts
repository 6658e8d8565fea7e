import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ACCESS_LOG_ATOMS,
  type AccessLogAtom,
  atomNeeds,
  type BracedAtomKind,
  DEFAULT_ACCESS_LOG_FORMAT,
  parseAccessLogFormat,
} from '../config/access-log-format.js';
import { LogFileWriter } from './access-log-writer.js';

export { ACCESS_LOG_ATOMS, DEFAULT_ACCESS_LOG_FORMAT, LogFileWriter };

/**
 * The access log: one line per response, in Gunicorn's `--access-logformat` (Apache's combined
 * format by default), written by each worker to `--access-logfile` (`-`: standard output).
 *
 * Lines are encoded into a 64 KiB buffer as they come and written together, when the buffer is
 * full or 100 ms after its first line, with one asynchronous write() each: a request never waits
 * on the disk, and lines from several workers appending to the same file stay whole (O_APPEND
 * writes do not interleave); access-log-writer.ts, which also says how none is lost at exit.
 *
 * Cost per request (docs/benchmarks.md has the figures): the line is built from the atoms the
 * format uses and nothing else (no clock read for a format without durations, no byte counting
 * without %(b)s or %(B)s), and it is garbage as soon as it is encoded: lines kept as strings until
 * a batch was written survived into the old generation and made every young GC slower.
 *
 * The atoms, what they mean and what they need measured are config/access-log-format.ts's table;
 * the handlers here are checked against it (`satisfies`), so an atom cannot be added to one alone.
 */

/** What is known of a request once its response is finished. */
export interface AccessRecord {
  req: IncomingMessage;
  res: ServerResponse;
  /** performance.now() when the request arrived (0 when the format times nothing). */
  start: number;
  /** Date.now() when the request arrived. */
  startMs: number;
  /** Body bytes sent (undefined when unknown: the format does not count them). */
  sent: number | undefined;
  /** The remote address, read as the request arrived (an HTTP/2 stream's socket is gone once it closes). */
  address: string | undefined;
}

/** One atom's text; `elapsedMs` is only measured when the format has a duration atom. */
type Atom = (record: AccessRecord, elapsedMs: number) => string;

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
  return escapeText(typeof value === 'string' ? value : String(value));
}

function escapeText(text: string): string {
  // A loop, not a regular expression: most values are short and clean, and this runs for several atoms per request.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x7f) return escapeAll(text);
  }
  return text;
}

function escapeAll(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
  return text.replace(/["\\\x00-\x1f\x7f]/g, (c) =>
    c === '"' ? '\\"' : c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
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

const ATOMS = {
  h: ({ address }) => safe(address),
  l: () => '-',
  u: ({ req }) => safe(basicUser(req)),
  t: ({ startMs }) => timeOf(startMs),
  // The parts escaped one by one: the line joined first would be flattened just to be scanned.
  r: ({ req }) => `${escapeText(req.method ?? '')} ${escapeText(req.url ?? '')} HTTP/${req.httpVersion}`,
  m: ({ req }) => safe(req.method),
  U: ({ req }) => safe(target(req).path),
  q: ({ req }) => safe(target(req).query),
  H: ({ req }) => `HTTP/${req.httpVersion}`,
  s: ({ res }) => String(res.statusCode),
  B: ({ sent }) => String(sent ?? 0),
  b: ({ sent }) => (sent === undefined ? '-' : String(sent)),
  f: ({ req }) => safe(header(req.headers.referer)),
  a: ({ req }) => safe(header(req.headers['user-agent'])),
  T: (_r, ms) => String(Math.floor(ms / 1000)),
  M: (_r, ms) => String(Math.floor(ms)),
  D: (_r, ms) => String(Math.floor(ms * 1000)),
  L: (_r, ms) => (ms / 1000).toFixed(6),
  p: () => `<${process.pid}>`,
} satisfies Record<AccessLogAtom, Atom>;

/** Braced atoms: an atom for the NAME of `%({NAME}i)s`. Headers are looked up in lower case. */
const BRACED = {
  i: (name) => {
    const key = name.toLowerCase();
    return ({ req }) => safe(header(req.headers[key]));
  },
  o: (name) => {
    const key = name.toLowerCase();
    return ({ res }) => safe(header(res.getHeader(key)));
  },
  e: (name) => () => safe(process.env[name]),
} satisfies Record<BracedAtomKind, (name: string) => Atom>;

interface CompiledFormat {
  line: (record: AccessRecord) => string;
  /** The format has a duration atom: `start` must be measured. */
  timed: boolean;
  /** The format has a length atom: the body must be counted. */
  counted: boolean;
}

/**
 * Compile an `--access-logformat` into a function of a finished request. Throws a KelpieError
 * naming an unknown atom.
 */
export function compileAccessLogFormat(format: string, name = '--access-logformat'): (record: AccessRecord) => string {
  return compile(format, name, '').line;
}

/** The format as a function, ending with `suffix`, and what it needs measured per request. */
function compile(format: string, name: string, suffix: string): CompiledFormat {
  const parts: (string | Atom)[] = [];
  let timed = false;
  let counted = false;
  for (const part of parseAccessLogFormat(format, name)) {
    if (typeof part === 'string') parts.push(part);
    else if ('braced' in part) parts.push(BRACED[part.braced](part.name));
    else {
      // %(l)s and %(p)s are the same on every line: text, joined with the text around them.
      parts.push(part.atom === 'l' || part.atom === 'p' ? ATOMS[part.atom]() : ATOMS[part.atom]);
      timed ||= atomNeeds(part.atom) === 'duration';
      counted ||= atomNeeds(part.atom) === 'length';
    }
  }
  parts.push(suffix);
  const pieces: (string | Atom)[] = [];
  for (const part of parts) {
    const last = pieces.length - 1;
    if (typeof part === 'string' && typeof pieces[last] === 'string') pieces[last] += part;
    else if (part !== '') pieces.push(part);
  }
  // Generated once per format: one expression with a call site per atom, which V8 can inline,
  // where a loop over the atoms would make one call site see every atom function (measured: the
  // loop cost about as much as the rest of the access log together).
  const atoms = pieces.filter((piece): piece is Atom => typeof piece !== 'string');
  let atom = 0;
  const expression = pieces
    .map((piece) => (typeof piece === 'string' ? JSON.stringify(piece) : `a[${atom++}](r, e)`))
    .join(' + ');
  let line: (record: AccessRecord) => string;
  try {
    const build = new Function(
      'a',
      'now',
      `return function line(r) { const e = ${timed ? 'now() - r.start' : '0'}; return ${expression || "''"}; };`,
    ) as (atoms: Atom[], now: () => number) => (record: AccessRecord) => string;
    line = build(atoms, () => performance.now());
  } catch {
    // node --disallow-code-generation-from-strings: the same line from a loop.
    line = (record) => {
      const elapsed = timed ? performance.now() - record.start : 0;
      let text = '';
      for (const piece of pieces) text += typeof piece === 'string' ? piece : piece(record, elapsed);
      return text;
    };
  }
  return { line, timed, counted };
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
  const sink: Sink = { out: writer, ...compile(settings.accessLogformat, '--access-logformat', '\n') };
  const { timed, counted } = sink;
  // One object per request, and functions shared by every request (the response points back
  // to its record): no closure per request for the close listener or the body counters.
  return (req, res) => {
    const record = new Pending(req, res, sink, timed ? performance.now() : 0, counted ? 0 : undefined);
    (res as Logged)[RECORD] = record;
    if (counted) {
      record.write = res.write as Pending['write'];
      record.end = res.end as Pending['end'];
      res.write = countingWrite as typeof res.write;
      res.end = countingEnd as typeof res.end;
    }
    // on, not once: a response closes once, and once() pays for a wrapper and its removal.
    res.on('close', logClosed);
  };
}

/** Where a format's lines go. */
interface Sink extends CompiledFormat {
  out: LogFileWriter;
}

const RECORD = Symbol('kelpie.access-log');
type Logged = ServerResponse & { [RECORD]?: Pending };
type Write = (this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) => unknown;

/** The record of a request under way: an AccessRecord, with what the close listener and body counters need. */
class Pending implements AccessRecord {
  readonly startMs = Date.now();
  /** The remote address, read as the request arrived (an HTTP/2 stream's socket is gone once it closes). */
  readonly address: string | undefined;
  /** The response's own write() and end(), wrapped to count the body. */
  write: Write | undefined = undefined;
  end: Write | undefined = undefined;
  /** end() was called: HTTP/2's end() hands its chunk to this.write(), counted once, by end. */
  ended = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly sink: Sink,
    readonly start: number,
    public sent: number | undefined,
  ) {
    this.address = req.socket?.remoteAddress;
  }
}

function logClosed(this: Logged): void {
  const record = this[RECORD] as Pending;
  record.sink.out.write(record.sink.line(record));
}

/**
 * Count the body bytes as the app writes them into `record.sent`. The socket's count will not do:
 * it includes the headers and the chunked framing. Plain parameters rather than rest ones: the
 * wrappers run for every write and should cost no array.
 */
function countingWrite(this: Logged, chunk: unknown, encoding?: unknown, callback?: unknown): unknown {
  const record = this[RECORD] as Pending;
  if (!record.ended) record.sent = (record.sent as number) + byteLength(chunk, encoding);
  return (record.write as Write).call(this, chunk, encoding, callback);
}

function countingEnd(this: Logged, chunk?: unknown, encoding?: unknown, callback?: unknown): unknown {
  const record = this[RECORD] as Pending;
  if (!record.ended) record.sent = (record.sent as number) + byteLength(chunk, encoding);
  record.ended = true;
  return (record.end as Write).call(this, chunk, encoding, callback);
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string')
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk && typeof (chunk as Uint8Array).byteLength === 'number') return (chunk as Uint8Array).byteLength;
  return 0;
}
