/**
 * Cost curves (`pnpm bench --curves`): hello world, 2 workers, kelpie against node:cluster (RR),
 * at 10, 100, 1,000 and 10,000 concurrent keep-alive connections (wrk, bounded by --seconds):
 * req/s, p99, the workers' RSS and the connections each process held at each step; then the
 * memory an idle keep-alive connection costs (10,000 raw sockets, each after one request). Each
 * round starts both servers fresh and loads them back to back at every step, in ascending order;
 * the side loaded first alternates from step to step and round to round, and before each measured
 * run both get the same: the machine settles (the last run's connections closed, the servers
 * quiet: src/settle.ts), --warmup seconds of wrk at the step's connections, the machine settles
 * again. The idle rounds alternate too. Tables and ratios: curves-report.ts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { ensureCommand } from '@kelpie/testkit/apt';
import { formatHeld, sampleHeld } from './curves-held.js';
import {
  CURVE_SIDES,
  type CurvePoint,
  type CurveRound,
  type CurveSide,
  type CurvesReport,
  curvesSvg,
  curvesTable,
  type IdleRound,
  type IdleSample,
} from './curves-report.js';
import { ensureConnectionLimits } from './fd-limit.js';
import { holdIdleConnections } from './idle-connections.js';
import { describeMachine, timeStamp } from './machine.js';
import { rssOf } from './memory.js';
import { balancedOrder } from './order.js';
import { peers } from './peers/index.js';
import { fmt } from './report.js';
import { writeNewResultFile } from './results.js';
import { describeSettled, type Settled, settle } from './settle.js';
import type { PeerName, RunningServer, Scenario } from './types.js';
import { runWrk } from './wrk.js';

export const CURVE_STEPS = [10, 100, 1_000, 10_000];
/** The step --top-seconds applies to: its connect storm takes seconds (backlog overflow, SYN retries). */
const TOP_STEP = 10_000;
/** Idle keep-alive connections held for the memory per connection. */
export const IDLE_CONNECTIONS = 10_000;
const WORKERS = 2;
/** Both sides keep an idle connection this long, so none closes while the others are opened. */
const KEEP_ALIVE_S = 120;
/** Connections of the warm-up each fresh server gets before it is measured. */
const WARMUP_CONNECTIONS = 100;
/** How often worker RSS is sampled during a run (its peak is kept). */
const RSS_SAMPLE_MS = 200;
/** The longest wait for the last run's connections to close and the servers to go quiet (10,000 close slowly). */
const SETTLE_LIMIT_MS = 15_000;
/** Then the longest wait for the servers and the machine to be quiet (a busy neighbour may never stop). */
const QUIET_LIMIT_MS = 3_000;
/** After the idle connections are open, before RSS is read: the workers finish their bookkeeping. */
const IDLE_SETTLE_MS = 1_000;

const MAX_CONNECTIONS = Math.max(...CURVE_STEPS, IDLE_CONNECTIONS);
const PEER: Record<CurveSide, PeerName> = { kelpie: 'kelpie', cluster: 'cluster-rr' };

/**
 * kelpie's default --worker-connections (1,000 per worker) would hold 8,000 of 10,000 connections
 * in the backlog: the curves measure what a connection costs, so each worker may take them all.
 */
const SCENARIO: Scenario = {
  name: 'curves',
  title: 'hello world, keep-alive connections',
  app: 'plain',
  path: '/hello',
  method: 'GET',
  connections: MAX_CONNECTIONS,
  peers: [PEER.cluster],
  workers: [WORKERS],
  kelpieArgs: ['--worker-connections', String(MAX_CONNECTIONS), '--keep-alive', String(KEEP_ALIVE_S)],
  env: { BENCH_KEEP_ALIVE_MS: String(KEEP_ALIVE_S * 1000) },
};

const SETTINGS: Record<CurveSide, string> = {
  kelpie: `${SCENARIO.kelpieArgs?.join(' ')} (backlog: its default 2048)`,
  cluster: `server.keepAliveTimeout ${KEEP_ALIVE_S * 1000} ms (backlog: Node's default 511)`,
};

export interface CurvesContext {
  freePort: () => Promise<number>;
  /** Servers to stop on Ctrl-C (the CLI's). */
  running: Set<RunningServer>;
  interrupt: (signal: NodeJS.Signals) => void;
  resultsDir: string;
  docsDir: string;
}

interface Options {
  rounds: number;
  seconds: number;
  /** Seconds of the 10,000-connection step (--top-seconds; default --seconds). */
  topSeconds: number;
  warmup: number;
  threads: number;
}

interface Side {
  server: RunningServer;
  url: string;
  port: number;
  workerPids: number[];
}

const sumRss = (pids: number[]) => pids.reduce((sum, pid) => sum + rssOf(pid), 0);

async function startSide(side: CurveSide, context: CurvesContext, options: Options): Promise<Side> {
  const port = await context.freePort();
  const server = await peers[PEER[side]].start({
    scenario: SCENARIO,
    workers: WORKERS,
    port,
    env: SCENARIO.env ?? {},
  });
  context.running.add(server);
  const url = `http://127.0.0.1:${port}${SCENARIO.path}`;
  if (options.warmup > 0) {
    await runWrk({
      url,
      connections: WARMUP_CONNECTIONS,
      threads: options.threads,
      seconds: options.warmup,
      method: 'GET',
    });
  }
  return { server, url, port, workerPids: server.pids().filter((pid) => pid !== server.pid) };
}

async function stopSide(side: Side | undefined, context: CurvesContext): Promise<void> {
  if (!side) return;
  await side.server.stop();
  context.running.delete(side.server);
}

/** When in a run the connections held by each process are counted: late, once the connect storm is over. */
const HELD_AT = 0.8;

/**
 * One wrk run at `connections`, with the peak of the workers' summed RSS while it ran and the
 * connections each process held at HELD_AT of it.
 */
async function loadStep(side: Side, connections: number, options: Options): Promise<CurvePoint> {
  let peak = 0;
  let manager = 0;
  const sample = () => {
    peak = Math.max(peak, sumRss(side.workerPids));
    manager = Math.max(manager, rssOf(side.server.pid));
  };
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  const seconds = connections >= TOP_STEP ? options.topSeconds : options.seconds;
  const held = sampleHeld(side.port, side.server, seconds * 1000 * HELD_AT);
  try {
    const result = await runWrk({ url: side.url, connections, threads: options.threads, seconds, method: 'GET' });
    sample();
    const { rps, p50, p99, errors, errorDetail } = result;
    const spread = await held.result;
    return {
      connections,
      rps,
      p50,
      p99,
      errors,
      errorDetail,
      workerRss: peak,
      managerRss: manager,
      ...(spread ? { held: spread } : {}),
      ...(seconds !== options.seconds ? { seconds } : {}),
    };
  } finally {
    clearInterval(timer);
    held.cancel();
  }
}

const firstIn = (round: number): CurveSide => (round % 2 === 1 ? 'kelpie' : 'cluster');
const inOrder = (first: CurveSide): CurveSide[] => (first === 'kelpie' ? ['kelpie', 'cluster'] : ['cluster', 'kelpie']);
/** The order of the sides at step `stepIndex` of round `round` (from 1): alternating by step and by round. */
export const stepOrder = (round: number, stepIndex: number): CurveSide[] =>
  balancedOrder(inOrder(firstIn(round)), stepIndex);

/** Waits for the last run's connections to close and both servers to be quiet (src/settle.ts). */
function settleBoth(sides: Partial<Record<CurveSide, Side>>): Promise<Settled> {
  const running = Object.values(sides);
  return settle({
    ports: running.map((side) => side.port),
    pids: () => running.flatMap((side) => side.server.pids()),
    limitMs: SETTLE_LIMIT_MS,
    quietLimitMs: QUIET_LIMIT_MS,
  });
}

/**
 * One side's measured run at one step: the machine settles, the side gets --warmup seconds of
 * wrk at this step's connection count (below the top step, whose connect storm is its own), the
 * machine settles again, then the measured run. Both sides get exactly this before every run.
 */
async function measuredStep(
  side: CurveSide,
  sides: Partial<Record<CurveSide, Side>>,
  connections: number,
  place: number,
  options: Options,
): Promise<CurvePoint> {
  const running = sides[side] as Side;
  await settleBoth(sides);
  if (options.warmup > 0 && connections < TOP_STEP) {
    await runWrk({ url: running.url, connections, threads: options.threads, seconds: options.warmup, method: 'GET' });
  }
  const settled = await settleBoth(sides);
  return { ...(await loadStep(running, connections, options)), place, settled };
}

async function curveRound(round: number, context: CurvesContext, options: Options): Promise<CurveRound> {
  const first = firstIn(round);
  const sides: Partial<Record<CurveSide, Side>> = {};
  const points: Record<CurveSide, CurvePoint[]> = { kelpie: [], cluster: [] };
  try {
    for (const side of inOrder(first)) sides[side] = await startSide(side, context, options);
    for (const [stepIndex, connections] of CURVE_STEPS.entries()) {
      for (const [place, side] of stepOrder(round, stepIndex).entries()) {
        points[side].push(await measuredStep(side, sides, connections, place + 1, options));
      }
      const [k, c] = [points.kelpie.at(-1) as CurvePoint, points.cluster.at(-1) as CurvePoint];
      console.log(
        `curves round ${round}, ${connections} connections (${k.place === 1 ? 'kelpie' : 'node:cluster'} first): ` +
          `kelpie ${Math.round(k.rps)} req/s p99 ${k.p99} ms, node:cluster ${Math.round(c.rps)} req/s p99 ${c.p99} ms ` +
          `(${fmt(k.rps / c.rps, 2)}x; errors ${k.errors}/${c.errors}; held per worker late in the run: ` +
          `kelpie ${formatHeld(k.held) || '?'}, node:cluster ${formatHeld(c.held) || '?'}; ` +
          `before the runs: kelpie ${describeSettled(k.settled as Settled)}, node:cluster ${describeSettled(c.settled as Settled)})`,
      );
    }
  } finally {
    for (const side of CURVE_SIDES) await stopSide(sides[side], context);
  }
  return { round, first, points };
}

/** A fresh server, warmed up, then `IDLE_CONNECTIONS` idle connections held while its workers' RSS is read. */
async function idleSample(side: CurveSide, context: CurvesContext, options: Options): Promise<IdleSample> {
  let running: Side | undefined;
  try {
    running = await startSide(side, context, options);
    const before = sumRss(running.workerPids);
    const held = await holdIdleConnections(running.url, IDLE_CONNECTIONS, { timeoutMs: 120_000 });
    try {
      await delay(IDLE_SETTLE_MS);
      return { before, holding: sumRss(running.workerPids), open: held.open() };
    } finally {
      await held.close();
    }
  } finally {
    await stopSide(running, context);
  }
}

async function idleRound(round: number, context: CurvesContext, options: Options): Promise<IdleRound> {
  const first = firstIn(round);
  const samples: Partial<Record<CurveSide, IdleSample>> = {};
  for (const side of inOrder(first)) samples[side] = await idleSample(side, context, options);
  const perConnection = (s: IdleSample) => ((s.holding - s.before) / IDLE_CONNECTIONS / 1024).toFixed(1);
  const { kelpie, cluster } = samples as Record<CurveSide, IdleSample>;
  console.log(
    `idle round ${round}: ${IDLE_CONNECTIONS} connections, worker RSS per connection: kelpie ${perConnection(kelpie)} KiB ` +
      `(${kelpie.open} open), node:cluster ${perConnection(cluster)} KiB (${cluster.open} open)`,
  );
  return { round, first, samples: samples as Record<CurveSide, IdleSample> };
}

function wholeNumber(values: Record<string, unknown>, name: string, fallback: number, min: number): number {
  const raw = values[name];
  const n = Number(typeof raw === 'string' ? raw : fallback);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be a whole number of ${min} or more`);
  return n;
}

function writeChart(report: CurvesReport, docsDir: string): void {
  const file = `${docsDir}benchmarks-curves.svg`;
  writeFileSync(file, curvesSvg(report));
  console.log(`bench: wrote ${file}`);
}

/** `pnpm bench --curves [--seconds N] [--top-seconds N] [--rounds N] [--warmup N] [--threads N] [--docs] [--render F] [--no-write]`. */
export async function runCurvesCommand(values: Record<string, unknown>, context: CurvesContext): Promise<number> {
  if (typeof values.render === 'string') {
    writeChart(JSON.parse(readFileSync(values.render, 'utf8')) as CurvesReport, context.docsDir);
    return 0;
  }
  let options: Options;
  try {
    options = {
      rounds: wholeNumber(values, 'rounds', 3, 1),
      seconds: wholeNumber(values, 'seconds', 5, 1),
      topSeconds: 0,
      warmup: wholeNumber(values, 'warmup', 1, 0),
      threads: wholeNumber(values, 'threads', 2, 1),
    };
    options.topSeconds = wholeNumber(values, 'top-seconds', options.seconds, 1);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    return 2;
  }
  const wrkMissing = await ensureCommand('wrk', 'wrk');
  if (wrkMissing) {
    console.error(`bench: cannot run without wrk: ${wrkMissing}`);
    return 1;
  }
  let openFileLimit: CurvesReport['openFileLimit'];
  try {
    openFileLimit = ensureConnectionLimits(MAX_CONNECTIONS);
  } catch (error) {
    console.error(`bench: --curves cannot run here: ${(error as Error).message}`);
    return 1;
  }
  process.once('SIGINT', context.interrupt);
  process.once('SIGTERM', context.interrupt);
  const report: CurvesReport = {
    kind: 'curves',
    date: timeStamp(),
    command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
    machine: describeMachine(),
    loadAverage: { start: loadavg()[0] as number, end: Number.NaN },
    load: {
      tool: 'wrk',
      threads: options.threads,
      seconds: options.seconds,
      ...(options.topSeconds !== options.seconds ? { topSeconds: options.topSeconds } : {}),
      warmupSeconds: options.warmup,
      rounds: options.rounds,
    },
    workers: WORKERS,
    steps: CURVE_STEPS,
    sides: {
      kelpie: { label: peers[PEER.kelpie].label, settings: SETTINGS.kelpie },
      cluster: { label: peers[PEER.cluster].label, settings: SETTINGS.cluster },
    },
    openFileLimit,
    rounds: [],
    idle: { connections: IDLE_CONNECTIONS, rounds: [] },
  };
  console.log(
    `bench --curves: hello world, ${WORKERS} workers, ${CURVE_STEPS.join(', ')} connections, wrk -t${options.threads} ` +
      `${options.seconds} s per run${options.topSeconds !== options.seconds ? ` (${options.topSeconds} s at ${TOP_STEP})` : ''}, ${options.rounds} round(s); open-file limit ${openFileLimit.soft}; ` +
      `load average ${report.loadAverage.start.toFixed(2)}\n  kelpie: ${SETTINGS.kelpie}\n  node:cluster: ${SETTINGS.cluster}`,
  );
  for (let round = 1; round <= options.rounds; round++) report.rounds.push(await curveRound(round, context, options));
  for (let round = 1; round <= options.rounds; round++)
    report.idle?.rounds.push(await idleRound(round, context, options));
  report.loadAverage.end = loadavg()[0] as number;
  console.log(
    `\n${curvesTable(report)}\nload average: ${report.loadAverage.start.toFixed(2)} at the start, ${report.loadAverage.end.toFixed(2)} at the end`,
  );
  if (values['no-write'] !== true) {
    mkdirSync(context.resultsDir, { recursive: true });
    const file = writeNewResultFile(
      `${context.resultsDir}curves-${report.date}.json`,
      `${JSON.stringify(report, null, 2)}\n`,
    );
    console.log(`\nbench: wrote ${file}`);
  }
  if (values.docs === true) writeChart(report, context.docsDir);
  return 0;
}
