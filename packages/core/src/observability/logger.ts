import { closeSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { LogLevel } from '../config/choices.js';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 };
const LABEL: Record<LogLevel, string> = {
  debug: 'DEBUG',
  info: 'INFO',
  warning: 'WARNING',
  error: 'ERROR',
  critical: 'CRITICAL',
};

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Gunicorn's error-log date format: `2026-11-21 09:15:00 +0000`, in local time. */
export function formatLogTime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

export interface LogSink {
  write(line: string): unknown;
}

/**
 * The error log in a file (`--error-logfile`): appended to with one synchronous write per line
 * (error logs are small, and a line written just before a crash must not be lost); `reopen()`
 * opens the path again after logrotate moved it (USR1).
 */
export class LogFile implements LogSink {
  readonly path: string;
  #fd: number;

  constructor(path: string) {
    this.path = path;
    this.#fd = openSync(path, 'a', 0o644);
    reopenable.add(this);
  }

  get fd(): number {
    return this.#fd;
  }

  write(line: string): void {
    try {
      writeSync(this.#fd, line);
    } catch {
      // A full disk must not take the server down with it.
    }
  }

  reopen(): void {
    const previous = this.#fd;
    this.#fd = openSync(this.path, 'a', 0o644);
    closeSync(previous);
  }
}

/** Log files of this process (or thread) that USR1 opens again. */
const reopenable = new Set<{ reopen(): void }>();

/** Register a file writer for `reopenLogFiles()`. */
export function onReopen(file: { reopen(): void }): void {
  reopenable.add(file);
}

/** USR1: open every log file again (after logrotate moved them). Returns the errors, if any. */
export function reopenLogFiles(): Error[] {
  const errors: Error[] = [];
  for (const file of reopenable) {
    try {
      file.reopen();
    } catch (error) {
      errors.push(error as Error);
    }
  }
  return errors;
}

/** Where the error log goes: standard error for `-`, else the file. */
export function errorLogSink(path: string): LogSink {
  return path === '-' ? process.stderr : new LogFile(path);
}

/** pino's level numbers, for `--log-format json`. */
const PINO_LEVEL: Record<LogLevel, number> = { debug: 20, info: 30, warning: 40, error: 50, critical: 60 };

/**
 * The error log, in Gunicorn's format: `[time] [pid] [LEVEL] message`. Each line goes out in a
 * single write so lines from the arbiter and its workers, which share stderr, never interleave.
 */
export class Logger {
  readonly #rank: number;
  readonly #sink: LogSink;
  readonly #json: boolean;

  constructor(level: LogLevel = 'info', sink: LogSink = process.stderr, format: 'text' | 'json' = 'text') {
    this.#rank = RANK[level];
    this.#sink = sink;
    this.#json = format === 'json';
  }

  /** Where lines go (a LogFile can be reopened). */
  get sink(): LogSink {
    return this.#sink;
  }

  log(level: LogLevel, message: string, error?: unknown): void {
    if (RANK[level] < this.#rank) return;
    if (this.#json) {
      this.#sink.write(`${jsonLine(level, message, error)}\n`);
      return;
    }
    let text = `[${formatLogTime(new Date())}] [${process.pid}] [${LABEL[level]}] ${message}\n`;
    if (error !== undefined) text += `${describeError(error)}\n`;
    this.#sink.write(text);
  }

  debug(message: string): void {
    this.log('debug', message);
  }
  info(message: string): void {
    this.log('info', message);
  }
  warning(message: string): void {
    this.log('warning', message);
  }
  error(message: string, error?: unknown): void {
    this.log('error', message, error);
  }
  critical(message: string, error?: unknown): void {
    this.log('critical', message, error);
  }
}

let hostText: string | undefined;
const host = (): string => {
  hostText ??= hostname();
  return hostText;
};

/** One error log line as pino writes it: level, time, pid, hostname, msg, and err for errors. */
function jsonLine(level: LogLevel, message: string, error: unknown): string {
  const line: Record<string, unknown> = {
    level: PINO_LEVEL[level],
    time: Date.now(),
    pid: process.pid,
    hostname: host(),
    msg: message,
  };
  if (error !== undefined) {
    line.err =
      error instanceof Error
        ? { type: error.name, message: error.message, stack: describeError(error) }
        : { type: typeof error, message: String(error) };
  }
  return JSON.stringify(line);
}

/** A stack trace when there is one, with the cause chain; else the value as text. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  let text = error.stack ?? `${error.name}: ${error.message}`;
  if (error.cause !== undefined) text += `\nCaused by: ${describeError(error.cause)}`;
  return text;
}

/**
 * For log lines that an attack or a starved process could repeat without end: the first event is
 * reported at once, later ones at most once per `intervalMs`, with the count of those left out.
 */
export class LogThrottle {
  readonly #intervalMs: number;
  #last = Number.NEGATIVE_INFINITY;
  #skipped = 0;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /**
   * `events` happened: returns how many earlier events went unreported when these are to be
   * logged now, or undefined when they are not (they are counted for the next line).
   */
  take(events = 1, now = Date.now()): number | undefined {
    if (now - this.#last < this.#intervalMs) {
      this.#skipped += events;
      return undefined;
    }
    const skipped = this.#skipped;
    this.#last = now;
    this.#skipped = 0;
    return skipped;
  }
}
