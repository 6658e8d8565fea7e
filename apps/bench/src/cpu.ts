/**
 * CPU time a server spends per request: the user and system time of its whole process tree
 * (arbiter or primary or daemon, and every worker; threads count in their process), read from
 * /proc before and after a measured run. On a shared machine, where neighbours take cores away
 * and requests per second swing with them, this is the steadier measure of how much work each
 * side does per request. Linux only; undefined elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK` (100 on Linux), once. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Per process (by pid and start time, so a reused pid is not mistaken): CPU ticks so far. */
export type CpuSnapshot = Map<string, number>;

/** utime + stime of each live process in `pids`. */
export function cpuSnapshot(pids: number[]): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15, starttime 22.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      snapshot.set(`${pid}@${fields[19]}`, Number(fields[11]) + Number(fields[12]));
    } catch {
      // gone meanwhile
    }
  }
  return snapshot;
}

/**
 * CPU seconds spent between two snapshots: by the processes in both, and all of the time of
 * processes that appeared in between. A process that ended in between loses what it spent since
 * the first snapshot (no side restarts workers under load, so none does here).
 */
export function cpuSeconds(before: CpuSnapshot, after: CpuSnapshot): number {
  let ticks = 0;
  for (const [key, value] of after) ticks += value - (before.get(key) ?? 0);
  return ticks / clockTicks();
}
