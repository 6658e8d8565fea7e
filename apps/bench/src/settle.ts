/**
 * Settling the machine between two loads (--latency, --curves): the load generator of the last
 * run has exited by the time its promise resolves (wrk's process, the generator's threads), so
 * what is left is the servers' side of it. `settle` waits until no established connection is
 * left on the servers' ports (the last run's connections closed), then until the servers' own
 * processes are quiet and the machine is not busy, each judged over short windows of /proc
 * readings; bounded in time, and saying whether it got there. So the side measured next does not
 * pay for the last run's teardown (closing 10,000 connections, a collection after a saturation
 * run), whichever side that was. Linux only: without `ss` or /proc the condition it cannot
 * read is taken as met.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { cpuSeconds, cpuSnapshot } from './cpu.js';
import { establishedSs } from './curves-held.js';

export interface SettleOptions {
  /** Ports the servers listen on: no established connection may be left on them. */
  ports: number[];
  /** The servers' processes now (every side's whole tree). */
  pids: () => number[];
  /** The servers together use at most this share of one core over a window (2 clock ticks of 200 ms). Default 0.1. */
  serverCpu?: number;
  /** The whole machine is busy at most this share of all its cores over a window. Default 0.5. */
  machineBusy?: number;
  /** One window of /proc readings, ms. Default 200. */
  windowMs?: number;
  /** Give up waiting for the connections to close after this long, ms. Default 5000. */
  limitMs?: number;
  /** Then give up waiting for quiet after this long, ms. Default 3000. */
  quietLimitMs?: number;
}

export interface Settled {
  /** Both conditions held within the limit. */
  settled: boolean;
  /** How long it waited, ms. */
  ms: number;
  /** Established connections left on the ports at the last look (-1: `ss` could not tell). */
  connections: number;
  /** The servers' CPU over the last window, in cores. */
  serverCpu: number;
  /** The machine's busy share of all cores over the last window (NaN without /proc/stat). */
  machineBusy: number;
  /** What was still not quiet when the limit ran out. */
  why?: string;
}

/** Busy and total jiffies from /proc/stat's first line (`cpu  user nice system idle iowait …`). */
export function parseProcStat(text: string): { busy: number; total: number } | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (values.length < 5 || values.some((v) => !Number.isFinite(v))) return undefined;
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] as number) + (values[4] as number);
  return { busy: total - idle, total };
}

function machineTicks(): { busy: number; total: number } | undefined {
  try {
    return parseProcStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Established connections whose local port is one of `ports`; -1 when `ss` cannot tell. */
export async function establishedOn(ports: number[]): Promise<number> {
  if (!ports.length) return 0;
  const text = await establishedSs(`( ${ports.map((port) => `sport = :${port}`).join(' or ')} )`, false);
  return text === undefined ? -1 : text.split('\n').filter((line) => line.trim()).length;
}

/**
 * Waits, at most `limitMs`, for the last run's connections to be gone, then at most `quietLimitMs`
 * for the servers and the machine to be quiet over one window.
 */
export async function settle(options: SettleOptions): Promise<Settled> {
  const windowMs = options.windowMs ?? 200;
  const limitMs = options.limitMs ?? 5000;
  const quietLimitMs = options.quietLimitMs ?? 3000;
  const serverLimit = options.serverCpu ?? 0.1;
  const machineLimit = options.machineBusy ?? 0.5;
  const start = performance.now();
  const elapsed = () => performance.now() - start;
  let connections = await establishedOn(options.ports);
  while (connections > 0 && elapsed() < limitMs) {
    await delay(Math.min(windowMs, 50));
    connections = await establishedOn(options.ports);
  }
  const quietFrom = performance.now();
  let serverCpu = Number.NaN;
  let machineBusy = Number.NaN;
  for (;;) {
    const pids = options.pids();
    const before = { servers: cpuSnapshot(pids), machine: machineTicks(), at: performance.now() };
    await delay(windowMs);
    const after = { servers: cpuSnapshot(pids), machine: machineTicks(), at: performance.now() };
    serverCpu = cpuSeconds(before.servers, after.servers) / ((after.at - before.at) / 1000);
    machineBusy =
      before.machine && after.machine && after.machine.total > before.machine.total
        ? (after.machine.busy - before.machine.busy) / (after.machine.total - before.machine.total)
        : Number.NaN;
    const why = [
      connections > 0 ? `${connections} connection(s) still open` : '',
      serverCpu > serverLimit ? `servers at ${serverCpu.toFixed(2)} cores` : '',
      machineBusy > machineLimit ? `machine ${Math.round(machineBusy * 100)}% busy` : '',
    ].filter(Boolean);
    if (!why.length || performance.now() - quietFrom >= quietLimitMs) {
      const ms = Math.round(elapsed());
      return {
        settled: !why.length,
        ms,
        connections,
        serverCpu,
        machineBusy,
        ...(why.length ? { why: why.join(', ') } : {}),
      };
    }
  }
}

/** `settled in 120 ms`, or why not: for the console and the tables' notes. */
export function describeSettled(s: Settled): string {
  return s.settled ? `settled in ${s.ms} ms` : `not settled after ${s.ms} ms (${s.why})`;
}
