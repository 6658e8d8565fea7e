/**
 * Whether this machine lets the bench hold many connections at once (the cost curves hold up to
 * 10,000): the open-file limit every process inherits from the bench (wrk holds all of them, a
 * server worker up to all of them), and the ephemeral port range the client side draws from.
 * Node raises its own soft open-file limit to the hard one as it starts, and the servers and wrk
 * inherit the bench's, so the bench raises its own (prlimit, or a clear message) before it spawns.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Descriptors every process needs on top of its connections (listeners, pipes, files, the runtime). */
export const FD_MARGIN = 1024;

export interface FdLimits {
  soft: number;
  hard: number;
}

/** `Max open files` from a /proc/PID/limits text (`unlimited` as Infinity). */
export function parseOpenFileLimits(text: string): FdLimits | undefined {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!match) return undefined;
  const value = (s: string) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: value(match[1] as string), hard: value(match[2] as string) };
}

/** Why `connections` cannot be held with these limits and this port range, or undefined when they can. */
export function connectionLimitProblem(
  connections: number,
  limits: FdLimits | undefined,
  portRange: [number, number] | undefined,
): string | undefined {
  const needed = connections + FD_MARGIN;
  if (limits && limits.soft < needed) {
    return (
      `${connections.toLocaleString('en-US')} connections need an open-file limit of at least ${needed} in the bench, ` +
      `wrk and every server process; it is ${limits.soft} (hard limit ${limits.hard}). Raise it in the shell that runs ` +
      `the bench: \`ulimit -n ${needed}\`${limits.hard < needed ? ` (above the hard limit: as root, or \`ulimit -Hn ${needed}\` first)` : ''}`
    );
  }
  if (portRange && portRange[1] - portRange[0] + 1 < needed) {
    return (
      `${connections.toLocaleString('en-US')} connections from one client address need at least ${needed} ephemeral ` +
      `ports; net.ipv4.ip_local_port_range allows ${portRange[0]}-${portRange[1]}. Widen it: ` +
      `\`sysctl -w net.ipv4.ip_local_port_range="1024 65535"\``
    );
  }
  return undefined;
}

function readOwnLimits(): FdLimits | undefined {
  try {
    return parseOpenFileLimits(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

function readPortRange(): [number, number] | undefined {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low && high ? [low, high] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes sure this process (and so everything it spawns from now on) may hold `connections`:
 * raises the soft open-file limit with prlimit when it is too low (up to the hard limit, or past
 * it as root). Resolves with the limits in force, or throws with what to do.
 */
export function ensureConnectionLimits(connections: number): FdLimits {
  const needed = connections + FD_MARGIN;
  const before = readOwnLimits();
  if (before && before.soft < needed) {
    try {
      const hard = Math.max(needed, Number.isFinite(before.hard) ? before.hard : needed);
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${hard}`], { stdio: 'ignore' });
    } catch {
      // Not allowed or no prlimit: the check below says what to do.
    }
  }
  const limits = readOwnLimits();
  const problem = connectionLimitProblem(connections, limits, readPortRange());
  if (problem) throw new Error(problem);
  return limits ?? { soft: Number.NaN, hard: Number.NaN };
}
