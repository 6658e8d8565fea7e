/**
 * Startup: from spawn until EVERY worker has answered, kelpie beside node:cluster (and PM2), hello
 * app, N workers. Each side is started by its peer (peers/*), and from the moment start() is
 * called a poller here sends small rounds of concurrent requests on fresh connections to `GET
 * /pid`, which answers the serving process's pid; the side counts as up once N distinct pids have
 * answered. The peers' own readiness checks poll every 100 ms, too coarse to time a start, so
 * only this poller's clock counts; the peer's start() is still awaited, so a side that fails to
 * come up fails the run with its output. Rounds alternate the order of the sides (kelpie first in
 * odd rounds), and the table gives medians and kelpie's ratio to each peer.
 */
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { timeStamp } from './machine.js';
import { peers } from './peers/index.js';
import { fmt, paddedMarkdownTable } from './report.js';
import { median, writeNewResultFile } from './results.js';
import { scenarios } from './scenarios.js';
import type { PeerName, RunningServer, Scenario } from './types.js';

/** The sides timed by default: kelpie first, then the peers it is compared with. */
export const STARTUP_SIDES: PeerName[] = ['kelpie', 'cluster-rr', 'pm2'];
/** Gap between two rounds of probes: short enough to time a start, long enough to leave the CPU to it. */
const POLL_GAP_MS = 5;
const PROBE_TIMEOUT_MS = 1_000;
/** A side that has not answered from every worker by then counts as failed. */
const START_TIMEOUT_MS = 30_000;

export interface StartupSample {
  /** ms from start() to the first answer from any worker. */
  firstMs: number;
  /** ms from start() until every worker had answered. */
  allMs: number;
}

export interface StartupSide {
  side: PeerName;
  label: string;
  samples: StartupSample[];
  skipped?: string;
}

export interface StartupReport {
  date: string;
  node: string;
  workers: number;
  rounds: number;
  /** The machine's load average (1, 5, 15 min) before the first and after the last round. */
  load: { before: number[]; after: number[] };
  sides: StartupSide[];
}

/** The pids answering so far; `complete` once `workers` distinct ones have. */
export class PidsSeen {
  readonly #pids = new Set<number>();
  readonly #workers: number;
  firstAt: number | undefined;
  completeAt: number | undefined;

  constructor(workers: number) {
    this.#workers = workers;
  }

  /** Record one answer's body at `at` ms; bodies that are not a pid are ignored. */
  add(body: string, at: number): void {
    const pid = Number(body.trim());
    if (!Number.isInteger(pid) || pid <= 0) return;
    this.firstAt ??= at;
    this.#pids.add(pid);
    if (this.completeAt === undefined && this.#pids.size >= this.#workers) this.completeAt = at;
  }

  get count(): number {
    return this.#pids.size;
  }
}

/** The body of one GET on a fresh connection, or undefined if it did not answer 200. */
function probe(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/pid', agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/**
 * Polls until every worker has answered: each round sends `workers` requests at once (so a
 * round-robin primary hands one to each worker, and on a shared accept queue an idle worker can
 * take one), then waits POLL_GAP_MS. Stops early when `stop()` says the side failed.
 */
export async function pollAllWorkers(
  port: number,
  workers: number,
  started: number,
  stop: () => boolean,
): Promise<PidsSeen> {
  const seen = new PidsSeen(workers);
  const deadline = started + START_TIMEOUT_MS;
  while (seen.completeAt === undefined && !stop() && performance.now() < deadline) {
    await Promise.all(
      Array.from({ length: workers }, async () => {
        const body = await probe(port);
        if (body !== undefined) seen.add(body, performance.now() - started);
      }),
    );
    if (seen.completeAt === undefined) await delay(POLL_GAP_MS);
  }
  return seen;
}

export interface StartupOptions {
  sides: PeerName[];
  workers: number;
  rounds: number;
  freePort: () => Promise<number>;
  running: Set<RunningServer>;
  loadAverage: () => number[];
}

/** One timed start of one side, stopped again before it returns. */
async function timeStart(side: PeerName, scenario: Scenario, options: StartupOptions): Promise<StartupSample> {
  const port = await options.freePort();
  let failed = false;
  const started = performance.now();
  const starting = peers[side]
    .start({ scenario, workers: options.workers, port, env: {} })
    .then((server) => {
      options.running.add(server);
      return server;
    })
    .catch((error: unknown) => {
      failed = true;
      throw error;
    });
  // The rejection is handled below; this keeps it from counting as unhandled meanwhile.
  starting.catch(() => {});
  const seen = await pollAllWorkers(port, options.workers, started, () => failed);
  const server = await starting;
  try {
    if (seen.completeAt === undefined || seen.firstAt === undefined) {
      throw new Error(`${side}: only ${seen.count} of ${options.workers} workers answered`);
    }
    return { firstMs: seen.firstAt, allMs: seen.completeAt };
  } finally {
    await server.stop();
    options.running.delete(server);
  }
}

/** Rounds of timed starts, the sides' order alternating from round to round. */
export async function runStartupBench(options: StartupOptions): Promise<StartupReport> {
  const hello = scenarios.find((s) => s.name === 'hello') as Scenario;
  const scenario: Scenario = { ...hello, path: '/pid' };
  const sides: StartupSide[] = options.sides.map((side) => ({ side, label: peers[side].label, samples: [] }));
  const before = options.loadAverage();
  for (const side of sides) side.skipped = await peers[side.side].prepare();
  for (let round = 1; round <= options.rounds; round++) {
    const order = round % 2 ? sides : [...sides].reverse();
    for (const side of order) {
      if (side.skipped) continue;
      try {
        const sample = await timeStart(side.side, scenario, options);
        side.samples.push(sample);
        console.log(
          `startup: round ${round} ${side.side}: first ${fmt(sample.firstMs)} ms, all ${options.workers} ${fmt(sample.allMs)} ms`,
        );
      } catch (error) {
        side.skipped = `failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
        console.error(`startup: ${side.side} ${side.skipped}`);
      }
    }
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    workers: options.workers,
    rounds: options.rounds,
    load: { before, after: options.loadAverage() },
    sides,
  };
}

/**
 * kelpie's time to every worker answering over each other side's, round by round (the two ran
 * within seconds of each other, so a busy moment of the machine weighs on both), then the median.
 */
export function startupRatios(report: StartupReport): { side: PeerName; ratio: number }[] {
  const kelpie = report.sides.find((s) => s.side === 'kelpie')?.samples ?? [];
  return report.sides
    .filter((s) => s.side !== 'kelpie')
    .map((s) => ({
      side: s.side,
      ratio: median(
        s.samples.slice(0, kelpie.length).map((sample, i) => (kelpie[i]?.allMs ?? Number.NaN) / sample.allMs),
      ),
    }));
}

/** The results as a Markdown table: medians, every round, and kelpie's ratio. */
export function startupTable(report: StartupReport): string {
  const ratios = new Map(startupRatios(report).map((r) => [r.side, r.ratio]));
  const body = report.sides.map((side) => {
    const all = side.samples.map((s) => s.allMs);
    const ratio = ratios.get(side.side);
    return [
      side.label,
      side.skipped && !all.length ? `skipped: ${side.skipped}` : fmt(median(all)),
      fmt(median(side.samples.map((s) => s.firstMs))),
      all.map((ms) => fmt(ms)).join(' '),
      ratio === undefined ? '' : `${fmt(ratio, 2)}x`,
    ];
  });
  const load = (values: number[]) => values.map((v) => v.toFixed(2)).join(' ');
  return `${paddedMarkdownTable(
    [
      `side (${report.workers} workers)`,
      'all answering, median ms',
      'first answer, median ms',
      'per round',
      'kelpie / side',
    ],
    body,
  )}\n\nNode ${report.node}, ${report.rounds} round(s); load average ${load(report.load.before)} before, ${load(report.load.after)} after.`;
}

/**
 * `pnpm bench --startup`: the sides (`--peers`, default kelpie, node:cluster RR and PM2), one
 * worker count (`--workers`, default 2), `--rounds` (default 5); prints the table and writes
 * results/startup-<date>.json unless `write` is false. Returns the exit status.
 */
export async function startupCommand(
  values: { peers?: string | undefined; workers?: string | undefined; rounds?: string | undefined; write: boolean },
  harness: Pick<StartupOptions, 'freePort' | 'running'>,
): Promise<number> {
  const chosen = values.peers?.split(',').map((s) => s.trim()) as PeerName[] | undefined;
  const sides: PeerName[] = ['kelpie', ...(chosen ?? STARTUP_SIDES).filter((s) => s !== 'kelpie')];
  const workers = Number(values.workers ?? 2);
  const rounds = Number(values.rounds ?? 5);
  const unknown = sides.find((s) => !(s in peers));
  if (unknown || !Number.isInteger(workers) || workers < 1 || !Number.isInteger(rounds) || rounds < 1) {
    console.error(`bench: --startup takes known --peers, one --workers count and --rounds of 1 or more`);
    return 2;
  }
  const report = await runStartupBench({ ...harness, sides, workers, rounds, loadAverage: () => loadavg() });
  console.log(`\n${startupTable(report)}`);
  if (values.write) {
    const dir = fileURLToPath(new URL('../results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = writeNewResultFile(`${dir}startup-${timeStamp()}.json`, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`results: ${file}`);
  }
  return report.sides.some((s) => s.side === 'kelpie' && s.skipped) ? 1 : 0;
}
