/**
 * The processes under a pid, read from /proc (Linux only). Used to count a server's workers, to
 * list them for RSS, and to make sure a stopped server left nothing behind. A process is named by
 * its pid and its start time, so a pid reused by an unrelated process is never mistaken for it.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessEntry {
  pid: number;
  ppid: number;
  /** Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
  startTime: string;
}

/** Reads /proc/PID/stat; undefined once the process is gone or is a zombie (exited, not reaped). */
export function readProcess(pid: number): ProcessEntry | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [state, ppid] = fields;
  if (state === 'Z' || state === 'X' || ppid === undefined) return undefined;
  return { pid, ppid: Number(ppid), startTime: fields[19] ?? '' };
}

function allProcesses(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const entry = readProcess(Number(name));
    if (entry) entries.push(entry);
  }
  return entries;
}

/** The live processes in the trees rooted at `roots`, roots included (those still alive). */
export function processTreeEntries(roots: number[]): ProcessEntry[] {
  const all = allProcesses();
  const found = all.filter((entry) => roots.includes(entry.pid));
  const seen = new Set(found.map((entry) => entry.pid));
  for (let i = 0; i < found.length; i++) {
    for (const entry of all) {
      if (entry.ppid === found[i]!.pid && !seen.has(entry.pid)) {
        seen.add(entry.pid);
        found.push(entry);
      }
    }
  }
  return found;
}

/** `pid` and every live process below it. */
export function processTree(pid: number): number[] {
  return processTreeEntries([pid]).map((entry) => entry.pid);
}

/** True while this very process (same pid, same start time) is alive. */
export function isRunning(entry: ProcessEntry): boolean {
  return readProcess(entry.pid)?.startTime === entry.startTime;
}
