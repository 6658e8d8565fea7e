/**
 * How a server's connections are spread over its processes, for --curves and --latency: the
 * established TCP connections on its port, counted per process with `ss -Htnp state established
 * '( sport = :PORT )'` (iproute2). kelpie's workers accept from one shared socket, so the kernel
 * and the scheduler decide who takes each connection of a burst; node:cluster's RR primary accepts
 * them all and hands them to its workers one at a time (and holds those not handed yet). A
 * keep-alive connection stays where it landed, and with it its share of the load.
 *
 * `ss -p` reads every process's descriptors: one look costs tens of milliseconds at 10,000
 * connections, so the benches take one per run, late in it. Where `ss` is missing or fails, the
 * spread is simply not reported.
 */
import { execFile } from 'node:child_process';

/** Established connections per process: the workers' (largest first) and the managing process's. */
export interface HeldConnections {
  workers: number[];
  /** The arbiter's, primary's or daemon's: under RR, accepted and not handed to a worker yet. */
  manager: number;
}

/** Connections per pid in `ss -Htnp` output (a line per connection, `pid=N` for each holder). */
export function parseSsHolders(text: string): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const line of text.split('\n')) {
    for (const match of line.matchAll(/pid=(\d+)/g)) {
      const pid = Number(match[1]);
      byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
    }
  }
  return byPid;
}

/** The spread over a server's processes: `managerPid`'s count apart, every other process's, largest first. */
export function heldBy(byPid: Map<number, number>, managerPid: number, pids: number[]): HeldConnections {
  const workers = pids
    .filter((pid) => pid !== managerPid)
    .map((pid) => byPid.get(pid) ?? 0)
    .sort((a, b) => b - a);
  return { workers, manager: byPid.get(managerPid) ?? 0 };
}

/** `40/24`, or `1094/1120 +7786` when the manager holds some. */
export function formatHeld(held: HeldConnections | undefined): string {
  if (!held) return '';
  return `${held.workers.join('/')}${held.manager > 0 ? ` +${held.manager}` : ''}`;
}

/**
 * `ss -Htn state established FILTER` (with `-p` when `processes`: the holders too, which costs a
 * look at every process's descriptors); undefined when `ss` cannot tell.
 */
export function establishedSs(filter: string, processes: boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      'ss',
      [processes ? '-Htnp' : '-Htn', 'state', 'established', filter],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 10_000 },
      (error, stdout) => resolve(error ? undefined : stdout),
    );
  });
}

/** One look at the established connections on `port`, by pid; undefined when `ss` cannot tell. */
export async function holdersOnPort(port: number): Promise<Map<number, number> | undefined> {
  const text = await establishedSs(`( sport = :${port} )`, true);
  return text === undefined ? undefined : parseSsHolders(text);
}

/** The spread of a running server's connections on `port`, read once after `afterMs`. */
export function sampleHeld(
  port: number,
  server: { pid: number; pids(): number[] },
  afterMs: number,
): { result: Promise<HeldConnections | undefined>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let cancelResolve: () => void = () => {};
  const result = new Promise<HeldConnections | undefined>((resolve) => {
    timer = setTimeout(() => {
      const pids = server.pids();
      void holdersOnPort(port).then((byPid) => resolve(byPid && heldBy(byPid, server.pid, pids)));
    }, afterMs);
    // Cancelled before the look: nothing to report.
    cancelResolve = () => resolve(undefined);
  });
  return {
    result,
    cancel: () => {
      clearTimeout(timer);
      cancelResolve();
    },
  };
}
