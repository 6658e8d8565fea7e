import { closeSync, constants, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { KelpieError } from '../errors.js';

/**
 * The pidfile, as Gunicorn keeps it: written atomically (a temporary file renamed into place),
 * refused while it names a live process, removed at exit only while it still holds our pid.
 *
 * The arbiter is often root while workers run as another user (-u), who may own the pidfile's
 * folder: no file here is opened through a symbolic link. The temporary file gets a random name
 * and is created exclusively (O_EXCL, O_NOFOLLOW), so a link planted there is never written
 * through; a link at the pidfile's own path is refused at start and left alone at exit.
 */

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = constants;

/** A pid is a few digits: more than this is not a pidfile. */
const MAX_PIDFILE_BYTES = 64;

type Recorded = { pid: number | undefined } | { refused: string };

/** What `path` holds, read without following a link; `refused`: why it is no pidfile we may use. */
function readRecorded(path: string): Recorded {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted there must not hang the arbiter before the check below.
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { refused: 'is a symbolic link' };
    return { pid: undefined };
  }
  try {
    if (!fstatSync(fd).isFile()) return { refused: 'is not a regular file' };
    const buffer = Buffer.alloc(MAX_PIDFILE_BYTES);
    const text = buffer.toString('utf8', 0, readSync(fd, buffer, 0, buffer.length, 0)).trim();
    const pid = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
    return { pid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined };
  } catch {
    return { pid: undefined };
  } finally {
    closeSync(fd);
  }
}

/** The pid `path` holds; undefined for none, a link or anything but a regular file. */
function recordedPid(path: string): number | undefined {
  const recorded = readRecorded(path);
  return 'pid' in recorded ? recorded.pid : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Create a file next to `path` that did not exist, under a name nobody can guess; its name. */
function writeTemporary(path: string, text: string): string {
  // Required here, not imported: node:crypto costs every start about 3 ms of CPU on Node 20,
  // and only a start with --pid writes this file.
  const { randomBytes } = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  for (let attempt = 1; ; attempt++) {
    const temporary = `${path}.${randomBytes(8).toString('hex')}.tmp`;
    let fd: number;
    try {
      fd = openSync(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    } catch (error) {
      // EEXIST: a name taken by chance (or planted); another draw.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 5) continue;
      throw error;
    }
    try {
      writeSync(fd, text);
    } catch (error) {
      closeSync(fd);
      unlinkSync(temporary);
      throw error;
    }
    closeSync(fd);
    return temporary;
  }
}

/**
 * Write `pid` to `path`; throw KELPIE_ERR_PIDFILE when the file names another live process, or
 * when `path` is a symbolic link or not a regular file.
 */
export function writePidfile(path: string, pid: number = process.pid): void {
  const existing = readRecorded(path);
  if ('refused' in existing) {
    throw new KelpieError(
      'KELPIE_ERR_PIDFILE',
      `The pid file ${path} ${existing.refused}: refusing to start (kelpie never writes, reads or removes a pid file through a link or as anything but a regular file of its own). Remove it, or give --pid another path.`,
    );
  }
  if (existing.pid !== undefined && existing.pid !== pid && alive(existing.pid)) {
    throw new KelpieError(
      'KELPIE_ERR_PIDFILE',
      `Already running on PID ${existing.pid} (or pid file ${path} is stale): refusing to start.`,
    );
  }
  let temporary: string | undefined;
  try {
    temporary = writeTemporary(path, `${pid}\n`);
    // rename replaces whatever is at `path` (a link included) without following it.
    renameSync(temporary, path);
  } catch (error) {
    if (temporary) unlinkQuietly(temporary);
    throw new KelpieError('KELPIE_ERR_PIDFILE', `Cannot write pid file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** Remove `path` if it still holds `pid` (a newer arbiter may have taken it over; a link is left alone). */
export function removePidfile(path: string, pid: number = process.pid): void {
  if (recordedPid(path) === pid) unlinkQuietly(path);
}

/** Move our pidfile from `from` to `to` (a promoted USR2 arbiter: FILE.2 → FILE). */
export function renamePidfile(from: string, to: string, pid: number = process.pid): void {
  if (recordedPid(from) !== pid) {
    writePidfile(to, pid);
    return;
  }
  renameSync(from, to);
}
