import type { LogLevel } from './settings.js';

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
 * The error log, in Gunicorn's format: `[time] [pid] [LEVEL] message`. Each line goes out in a
 * single write so lines from the arbiter and its workers, which share stderr, never interleave.
 */
export class Logger {
  readonly #rank: number;
  readonly #sink: LogSink;

  constructor(level: LogLevel = 'info', sink: LogSink = process.stderr) {
    this.#rank = RANK[level];
    this.#sink = sink;
  }

  log(level: LogLevel, message: string, error?: unknown): void {
    if (RANK[level] < this.#rank) return;
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

/** A stack trace when there is one, with the cause chain; else the value as text. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  let text = error.stack ?? `${error.name}: ${error.message}`;
  if (error.cause !== undefined) text += `\nCaused by: ${describeError(error.cause)}`;
  return text;
}
