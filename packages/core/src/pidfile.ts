import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { KelpieError } from './errors.js';

/**
 * The pidfile, as Gunicorn keeps it: written atomically (a temporary file renamed into place),
 * refused while it names a live process, removed at exit only while it still holds our pid.
 */

function recordedPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Write `pid` to `path`; throw KELPIE_ERR_PIDFILE when the file names another live process. */
export function writePidfile(path: string, pid: number = process.pid): void {
  const existing = recordedPid(path);
  if (existing !== undefined && existing !== pid && alive(existing)) {
    throw new KelpieError(
      'KELPIE_ERR_PIDFILE',
      `Already running on PID ${existing} (or pid file ${path} is stale): refusing to start.`,
    );
  }
  const temporary = `${path}.${pid}.tmp`;
  try {
    writeFileSync(temporary, `${pid}\n`, { mode: 0o644 });
    renameSync(temporary, path);
  } catch (error) {
    throw new KelpieError('KELPIE_ERR_PIDFILE', `Cannot write pid file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Remove `path` if it still holds `pid` (a newer arbiter may have taken it over). */
export function removePidfile(path: string, pid: number = process.pid): void {
  if (recordedPid(path) !== pid) return;
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** Move our pidfile from `from` to `to` (a promoted USR2 arbiter: FILE.2 → FILE). */
export function renamePidfile(from: string, to: string, pid: number = process.pid): void {
  if (recordedPid(from) !== pid) {
    writePidfile(to, pid);
    return;
  }
  renameSync(from, to);
}
