import { closeSync, openSync, write, writeSync } from 'node:fs';
import { onReopen } from './logger.js';

/**
 * The access log's file writer: lines encoded into 64 KiB batches, each written by one
 * asynchronous write() (a request never waits on the disk; O_APPEND writes from several workers
 * do not interleave).
 *
 * At exit nothing may be lost. What has not been handed to a write() yet is written
 * synchronously on the `exit` event; a batch handed over is written too, even if its turn in
 * libuv's thread pool (shared with the app's file, DNS and crypto work) has not come: Node runs
 * what is queued there before the process ends (uv_library_shutdown), so it lands after those
 * lines. A thread of -k threads, though, gets no `exit` event when the process exits under it:
 * what it has not handed over would be lost. So a graceful stop (SIGTERM, --max-requests, a
 * reload) ends with accessLogsWritten(), in the process and in every thread: each line written,
 * in order, before the stop goes on; and a quick stop (INT, QUIT) asks each thread for
 * flushAccessLogsSync() before terminating it, waiting a short while for the answer (only a
 * thread stuck in a long synchronous request cannot give it: its last lines are lost).
 */

/** Every writer of this thread: accessLogsWritten() waits for them all. */
const everyWriter = new Set<LogFileWriter>();

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 100;
/** Lines are encoded once this many UTF-16 code units are waiting (a few KiB). */
const ENCODE_UNITS = 4096;
/** The most UTF-8 bytes one UTF-16 code unit can take. */
const MAX_BYTES_PER_UNIT = 3;

/**
 * Lines for one file, written in batches. `reopen()` (USR1) opens the path again, for logrotate;
 * `flushSync()` writes what is left when the process exits.
 */
export class LogFileWriter {
  readonly #path: string;
  #fd: number;
  /** The batch being filled, and how much of it is. */
  #buffer: Buffer | undefined;
  #used = 0;
  /**
   * Batches to write, oldest first (while a write is under way, the first is the one being
   * written): the lines, and the buffer they were encoded into, to reuse once written.
   */
  readonly #batches: { data: Buffer; buffer?: Buffer }[] = [];
  /** A written batch's buffer, kept for the next one: no 64 KiB allocation per batch. */
  #spare: Buffer | undefined;
  /** Lines not encoded yet, oldest first. */
  #pending = '';
  #timer: NodeJS.Timeout | undefined;
  #writing = false;
  /** Resolved once no batch is left to write (written()). */
  readonly #whenWritten: (() => void)[] = [];

  constructor(path: string) {
    this.#path = path;
    this.#fd = path === '-' ? 1 : openSync(path, 'a', 0o644);
    onReopen(this);
    everyWriter.add(this);
    process.once('exit', () => this.flushSync());
  }

  get path(): string {
    return this.#path;
  }

  /**
   * Queue `text` (whole lines, each ending with a newline). Lines are joined into a string of a
   * few KiB before they are encoded: one Buffer.write() per ~30 lines instead of one per line
   * (each call flattens its string and crosses into C++), and the string is gone long before a
   * young GC could find it alive.
   */
  write(text: string): void {
    this.#pending += text;
    if (this.#pending.length >= ENCODE_UNITS) this.#encode();
    if (!this.#timer) {
      this.#timer = setTimeout(() => this.#flush(), FLUSH_MS);
      this.#timer.unref();
    }
  }

  /** Encode the lines pending as a string into the batch being filled. */
  #encode(): void {
    const text = this.#pending;
    if (text === '') return;
    this.#pending = '';
    const room = FLUSH_BYTES - this.#used;
    if (text.length * MAX_BYTES_PER_UNIT > room) {
      this.#endBatch();
      // Longer than a whole batch could hold: a batch of its own.
      if (text.length * MAX_BYTES_PER_UNIT > FLUSH_BYTES) {
        this.#queue({ data: Buffer.from(text) });
        return;
      }
    }
    if (!this.#buffer) {
      this.#buffer = this.#spare ?? Buffer.allocUnsafe(FLUSH_BYTES);
      this.#spare = undefined;
    }
    this.#used += this.#buffer.write(text, this.#used);
  }

  /** Hand every line queued to the background write; resolves once all of them are written. */
  written(): Promise<void> {
    this.#flush();
    if (!this.#writing) return Promise.resolve();
    return new Promise((resolve) => this.#whenWritten.push(resolve));
  }

  /** Write out every line queued (the timer's flush, 100 ms after the first line). */
  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#encode();
    this.#endBatch();
  }

  /** End the batch being filled and write it out. */
  #endBatch(): void {
    if (!this.#buffer || this.#used === 0) return;
    const buffer = this.#buffer;
    // The next batch gets another buffer: this one stays untouched until written.
    this.#queue({ data: buffer.subarray(0, this.#used), buffer });
    this.#buffer = undefined;
    this.#used = 0;
  }

  #queue(batch: { data: Buffer; buffer?: Buffer }): void {
    this.#batches.push(batch);
    if (!this.#writing) this.#writeNext();
  }

  /** One write() at a time, so batches reach the file in order; only full or timed-out batches are queued. */
  #writeNext(): void {
    const batch = this.#batches[0];
    if (!batch) {
      for (const resolve of this.#whenWritten.splice(0)) resolve();
      return;
    }
    const { data } = batch;
    this.#writing = true;
    const fd = this.#fd;
    const writeFrom = (offset: number) => {
      write(fd, data, offset, data.length - offset, null, (error, written) => {
        if (!error && offset + written < data.length) {
          writeFrom(offset + written);
          return;
        }
        this.#batches.shift();
        this.#spare = batch.buffer ?? this.#spare;
        this.#writing = false;
        this.#writeNext();
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
    // The batch being written asynchronously is left to that write; the rest in order, encoded
    // here (#encode could start another asynchronous write).
    const waiting = this.#batches.splice(this.#writing ? 1 : 0).map((batch) => batch.data);
    if (this.#buffer && this.#used > 0) waiting.push(this.#buffer.subarray(0, this.#used));
    if (this.#pending !== '') waiting.push(Buffer.from(this.#pending));
    this.#buffer = undefined;
    this.#used = 0;
    this.#pending = '';
    if (waiting.length === 0) return;
    try {
      writeSync(this.#fd, waiting.length === 1 ? (waiting[0] as Buffer) : Buffer.concat(waiting));
    } catch {
      // Exiting: nowhere left to report it.
    }
  }
}

/** Resolves once every line of this thread's access logs is written: what waits for its batch is handed over now. */
export function accessLogsWritten(): Promise<void> {
  return Promise.all([...everyWriter].map((writer) => writer.written())).then(() => undefined);
}

/** Write every line of this thread's access logs not yet handed to a write(), synchronously (a quick stop). */
export function flushAccessLogsSync(): void {
  for (const writer of everyWriter) writer.flushSync();
}
