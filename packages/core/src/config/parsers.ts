import { availableParallelism } from 'node:os';
import { KelpieError } from '../errors.js';
import { isAddressPattern } from './address-pattern.js';

/**
 * The value parsers of the settings table: each turns a raw value (text from the command line or
 * KELPIE_CMD_ARGS, or a config-file value) into the setting's type, or throws a
 * KELPIE_ERR_INVALID_SETTING naming the setting, the value and what is allowed. Pure functions:
 * they import no feature module, so the modules that use a setting depend on config, never the
 * reverse.
 */

export function invalid(name: string, raw: unknown, allowed: string): KelpieError {
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
export function ranged<T>(parse: (raw: unknown, name: string) => T, range: NumericRange) {
  return Object.assign(parse, { range });
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
export function integer(min: number, max: number) {
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
export function secondsUpTo(max: number) {
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
export const secondsPlusOne = secondsUpTo(TIMER_MAX_SECONDS - 1);

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
export const MAX_CONNECTIONS = 1_048_576;
export const MAX_REQUESTS = 1e15;
export const MAX_WORKER_MEMORY_MB = 16_777_216;
export const MAX_HEAD_BYTES = 16 * 1024 * 1024;
export const MAX_WS_PAYLOAD = 2 ** 32;

export function oneOf<const T extends string>(values: readonly T[]) {
  return (raw: unknown, name: string): T => {
    const text = typeof raw === 'string' ? raw.toLowerCase() : raw;
    if (typeof text === 'string' && (values as readonly string[]).includes(text)) return text as T;
    throw invalid(name, raw, values.join(', '));
  };
}

/** A switch: true or false (the command line gives true; a config file may give either). */
export function onOff(raw: unknown, name: string): boolean {
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw invalid(name, raw, 'true or false');
}

/** A file mode mask: octal digits (022, 0o022) or a number. */
export function umaskValue(raw: unknown, name: string): number {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 0o777) return raw;
  if (typeof raw === 'string') {
    const text = raw.trim().replace(/^0o/i, '');
    if (/^[0-7]{1,4}$/.test(text) && Number.parseInt(text, 8) <= 0o777) return Number.parseInt(text, 8);
  }
  throw invalid(name, raw, 'an octal file mode mask from 0 to 0777, such as 022 or 0o027');
}

/** A user or group: a name, or a numeric id. */
export function account(raw: unknown, name: string): string | number {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return raw;
  if (typeof raw === 'string' && /^\d+$/.test(raw.trim())) return Number(raw.trim());
  if (typeof raw === 'string' && /^[a-z_][a-z0-9_.-]*\$?$/i.test(raw.trim())) return raw.trim();
  throw invalid(name, raw, 'a user or group name, or a numeric id');
}

export function nonEmptyString(raw: unknown, name: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw invalid(name, raw, 'a non-empty string');
  return raw;
}

export function stringList(check: (value: string, name: string) => void = () => {}) {
  return (raw: unknown, name: string): string[] => {
    const list = Array.isArray(raw) ? raw : [raw];
    return list.map((item) => {
      if (typeof item !== 'string' || item.trim() === '') throw invalid(name, item, 'a non-empty string');
      check(item, name);
      return item.trim();
    });
  };
}

export function workersValue(raw: unknown, name: string): number {
  if (raw === 'auto') return Math.min(availableParallelism(), MAX_WORKERS);
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text === 'string' && /^\d+$/.test(text.trim()) && Number(text) >= 1 && Number(text) <= MAX_WORKERS) {
    return Number(text);
  }
  throw invalid(name, raw, `an integer from 1 to ${MAX_WORKERS}, or "auto" (one per available CPU)`);
}

/** Items of a list setting: an array, or comma-separated text (items trimmed, empty ones dropped). */
export function commaList(raw: unknown): unknown[] {
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
export function addressPatterns(raw: unknown, name: string): string[] {
  const items = commaList(raw);
  for (const item of items) {
    if (typeof item !== 'string' || !isAddressPattern(item)) {
      throw invalid(name, item, 'comma-separated IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8), or *');
    }
  }
  return items as string[];
}

/** HOST:PORT for a TCP socket kelpie serves (metrics). */
export function hostPort(raw: unknown, name: string): string {
  if (typeof raw === 'string') {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
    if (match && Number(match[3]) <= 65535) return raw.trim();
  }
  throw invalid(name, raw, 'HOST:PORT, such as 127.0.0.1:9100 or [::1]:9100 (port 0 picks a free one)');
}

/** HOST:PORT of --statsd-host: `[::1]:8125`, `localhost:8125`, `statsd` (port 8125). */
export function parseStatsdAddress(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text.trim());
  if (!match) return undefined;
  const port = match[3] === undefined ? 8125 : Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}
