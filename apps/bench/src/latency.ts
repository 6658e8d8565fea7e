/**
 * `pnpm bench --latency`: latency at fixed request rates, not at saturation. For each scenario
 * (hello on Node 26 by default, so Platformatic Watt can join), every side is started with 2
 * workers and given the same warm-up: --warmup seconds of wrk, then a saturated wrk run as long
 * as a measured one; node:cluster's saturated throughput sets the rates. Then at 25%, 50% and 75%
 * of it each side is driven at that constant rate by the open-model generator (src/rate-load.ts),
 * which measures from intended send times, so a stall counts as latency, after 1 s of the same
 * rate unrecorded. The sides take turns in the order of a balanced Latin square (src/order.ts),
 * and before every run the bench waits for the last run's connections to close and the servers
 * and machine to be quiet (src/settle.ts), so no side is favoured or penalised by its place.
 * Reported per rate: target and achieved rate, p50, p99, p99.9 (medians of the rounds with their
 * range), errors, and kelpie's p99 over each peer's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { ensureCommand } from '@kelpie/testkit/apt';
import { formatHeld, type HeldConnections, sampleHeld } from './curves-held.js';
import { latencySvg } from './latency-svg.js';
import { describeMachine, timeStamp } from './machine.js';
import { balancedOrder } from './order.js';
import { peers } from './peers/index.js';
import { benchNode, registryNode } from './peers/node-runtime.js';
import type { RateLoadRaw } from './rate-load.js';
import { mergeRaw, type RateLoadResult, rateLoadResult, runRateLoad } from './rate-load-runner.js';
import { fmt, paddedMarkdownTable } from './report.js';
import { type BenchReport, median, writeNewResultFile } from './results.js';
import { scenarios as allScenarios } from './scenarios.js';
import { describeSettled, type Settled, settle } from './settle.js';
import type { NodeRuntime, PeerName, RunningServer, Scenario } from './types.js';
import { runWrk } from './wrk.js';

/** Shares of node:cluster's saturated throughput the sides are driven at. */
export const RATE_FRACTIONS = [0.25, 0.5, 0.75];
/** The sides, in table order; node:cluster (RR, Node's default on Linux) also sets the rates. */
export const LATENCY_SIDES: PeerName[] = ['kelpie', 'cluster-rr', 'pm2', 'watt'];
const CALIBRATOR: PeerName = 'cluster-rr';
export const DEFAULT_LATENCY_SCENARIOS = ['hello-26'];
const WORKERS = 2;
/** The generator's unrecorded first second (rate-load's warmupSeconds). */
const WARMUP_S = 1;
/** When in a run the connections held by each process are counted. */
const HELD_AT = 0.8;

export interface LatencySide {
  side: PeerName;
  label: string;
  /** One result per round. */
  rounds: RateLoadResult[];
  /**
   * Per round, the connections each of the side's processes held late in the run (curves-held.ts):
   * at a fixed rate over keep-alive connections used in turn, a worker's share of the connections
   * is its share of the load. Missing where `ss` could not tell.
   */
  held?: (HeldConnections | null)[];
  /** Per round, the side's place in that round's order (1: first). */
  places?: number[];
  /** Per round, how the wait for a settled machine before the run went (src/settle.ts). */
  settled?: Settled[];
  /** Every round's requests together. */
  pooled?: RateLoadResult;
  skipped?: string;
}

export interface LatencyRate {
  fraction: number;
  /** Requests per second. */
  target: number;
  sides: LatencySide[];
}

export interface LatencyScenario {
  scenario: string;
  title: string;
  /** The Node every side ran on. */
  node?: string;
  workers: number;
  /** node:cluster's saturated req/s (wrk), which the rates are shares of. */
  saturation?: { side: PeerName; rps: number; tool: string };
  /** Every side's saturated req/s, each after the same warm-up (wrk, as `saturation`). */
  saturated?: Partial<Record<PeerName, number>>;
  rates: LatencyRate[];
  skipped?: string;
}

export interface LatencyReport {
  date: string;
  command: string;
  machine: BenchReport['machine'];
  /** os.loadavg() at the start and the end. */
  loadAverage: { start: number[]; end: number[] };
  load: { tool: string; connections: number; threads: number; seconds: number; rounds: number; warmupSeconds: number };
  scenarios: LatencyScenario[];
}

export interface LatencyOptions {
  scenarios: Scenario[];
  sides: PeerName[];
  seconds: number;
  rounds: number;
  warmup: number;
  /** Generator threads. */
  threads: number;
  connections: number;
  command: string;
  freePort: () => Promise<number>;
  /** Servers running now, for the CLI's interrupt handler. */
  running: Set<RunningServer>;
}

/** Scenarios the generator can drive: plain GET over keep-alive HTTP/1.1. */
export function latencyCapable(scenario: Scenario): boolean {
  return (
    scenario.method === 'GET' && (scenario.load ?? 'http') === 'http' && !scenario.tls && !scenario.closeConnections
  );
}

export async function runLatencyBench(options: LatencyOptions): Promise<LatencyReport> {
  const report: LatencyReport = {
    date: timeStamp(),
    command: options.command,
    machine: describeMachine(),
    loadAverage: { start: loadavg(), end: [] },
    load: {
      tool: 'rate-load (open model, apps/bench/src/rate-load.ts)',
      connections: options.connections,
      threads: options.threads,
      seconds: options.seconds,
      rounds: options.rounds,
      warmupSeconds: options.warmup,
    },
    scenarios: [],
  };
  const sides = [...new Set<PeerName>(['kelpie', CALIBRATOR, ...options.sides])];
  const skipReasons = new Map<PeerName, string | undefined>();
  for (const side of sides) skipReasons.set(side, await peers[side].prepare());
  for (const scenario of options.scenarios) {
    const runtime = scenario.node === undefined ? benchNode : await registryNode(scenario.node);
    const result: LatencyScenario = {
      scenario: scenario.name,
      title: scenario.title,
      workers: WORKERS,
      rates: [],
      ...('path' in runtime ? { node: runtime.version } : { skipped: `no Node ${scenario.node}: ${runtime.reason}` }),
    };
    report.scenarios.push(result);
    if ('path' in runtime) await runScenario(scenario, runtime, sides, skipReasons, result, options);
  }
  report.loadAverage.end = loadavg();
  return report;
}

interface Started {
  server: RunningServer;
  url: string;
  port: number;
}

/** Waits for the last run's connections to close and every server to be quiet (src/settle.ts). */
function settleAll(servers: Map<PeerName, Started>): Promise<Settled> {
  const all = [...servers.values()];
  return settle({ ports: all.map((s) => s.port), pids: () => all.flatMap((s) => s.server.pids()) });
}

/**
 * Every side gets the same warm-up before the rates: --warmup seconds of wrk, then a saturated
 * wrk run as long as a measured one (node:cluster's sets the rates; the others' are reported
 * beside it), each after the machine settled. Resolves with each side's saturated req/s.
 */
async function warmUpAndSaturate(
  scenario: Scenario,
  servers: Map<PeerName, Started>,
  options: LatencyOptions,
): Promise<Partial<Record<PeerName, number>>> {
  const wrk = (url: string, seconds: number) =>
    runWrk({ url, seconds, connections: scenario.connections, threads: 2, method: 'GET' });
  const saturated: Partial<Record<PeerName, number>> = {};
  for (const side of balancedOrder([...servers.keys()], 0)) {
    const { url } = servers.get(side) as Started;
    await settleAll(servers);
    if (options.warmup > 0) await wrk(url, options.warmup);
    await settleAll(servers);
    saturated[side] = (await wrk(url, options.seconds)).rps;
    console.log(`${scenario.name}: ${peers[side].label} saturated at ${Math.round(saturated[side] ?? 0)} req/s`);
  }
  return saturated;
}

/** One side's measured run at `target` req/s, after the machine settled; recorded in `entry`. */
async function measureOne(
  side: PeerName,
  servers: Map<PeerName, Started>,
  target: number,
  options: LatencyOptions,
): Promise<{ raw: RateLoadRaw; held: HeldConnections | null; settled: Settled }> {
  const settled = await settleAll(servers);
  const { url, port, server } = servers.get(side) as Started;
  const sample = sampleHeld(port, server, (WARMUP_S + options.seconds * HELD_AT) * 1000);
  try {
    const raw = await runRateLoad({
      url,
      rate: target,
      seconds: options.seconds,
      connections: options.connections,
      threads: options.threads,
      warmupSeconds: WARMUP_S,
    });
    return { raw, held: (await sample.result) ?? null, settled };
  } finally {
    sample.cancel();
  }
}

/**
 * Every side at one rate, round after round. Round r of rate i is turn i × rounds + r of a
 * balanced Latin square (src/order.ts): over the run each side goes first (and takes each place)
 * equally often, and one rate's rounds have different sides first.
 */
async function runRate(
  scenario: Scenario,
  rate: LatencyRate,
  rateIndex: number,
  servers: Map<PeerName, Started>,
  options: LatencyOptions,
): Promise<void> {
  const raws = new Map<PeerName, RateLoadRaw[]>();
  for (let round = 0; round < options.rounds; round++) {
    const order = balancedOrder([...servers.keys()], rateIndex * options.rounds + round);
    for (const [place, side] of order.entries()) {
      const { raw, held, settled } = await measureOne(side, servers, rate.target, options);
      raws.set(side, [...(raws.get(side) ?? []), raw]);
      const one = rateLoadResult(raw, rate.target);
      const entry = rate.sides.find((s) => s.side === side) as LatencySide;
      entry.rounds.push(one);
      entry.held = [...(entry.held ?? []), held];
      entry.places = [...(entry.places ?? []), place + 1];
      entry.settled = [...(entry.settled ?? []), settled];
      console.log(
        `${scenario.name} ${rate.fraction * 100}% (${rate.target}/s) round ${round + 1}, ${place + 1} of ${order.length}: ` +
          `${peers[side].label} p50 ${fmt(one.p50, 2)} p99 ${fmt(one.p99, 2)} p99.9 ${fmt(one.p999, 2)} ms, ` +
          `${Math.round(one.achievedRate)}/s, errors ${one.errors}, unfinished ${one.unfinished}, ` +
          `connections per worker ${formatHeld(held ?? undefined) || '?'}; ${describeSettled(settled)}` +
          `${one.warnings.length ? `; ${one.warnings.join('; ')}` : ''}`,
      );
    }
  }
  for (const side of rate.sides) {
    const measured = raws.get(side.side);
    if (measured?.length) side.pooled = rateLoadResult(mergeRaw(measured, true), rate.target);
  }
}

/** Starts every side, warms them up alike, measures the saturated rates, then every side at each fixed rate; stops them all. */
async function runScenario(
  scenario: Scenario,
  node: NodeRuntime,
  sides: PeerName[],
  skipReasons: Map<PeerName, string | undefined>,
  result: LatencyScenario,
  options: LatencyOptions,
): Promise<void> {
  const servers = new Map<PeerName, Started>();
  const skipped = new Map<PeerName, string>();
  try {
    for (const side of sides) {
      const reason = skipReasons.get(side);
      if (reason) {
        skipped.set(side, reason);
        continue;
      }
      const port = await options.freePort();
      try {
        const server = await peers[side].start({ scenario, workers: WORKERS, port, env: { ...scenario.env }, node });
        options.running.add(server);
        servers.set(side, { server, url: `http://127.0.0.1:${port}${scenario.path}`, port });
      } catch (error) {
        skipped.set(side, `failed to start: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      }
    }
    if (!servers.has(CALIBRATOR)) {
      result.skipped = `no ${peers[CALIBRATOR].label} to set the rates: ${skipped.get(CALIBRATOR) ?? 'not started'}`;
      return;
    }
    result.saturated = await warmUpAndSaturate(scenario, servers, options);
    const rps = result.saturated[CALIBRATOR] ?? Number.NaN;
    result.saturation = { side: CALIBRATOR, rps, tool: `wrk -t2 -c${scenario.connections}` };
    for (const [index, fraction] of RATE_FRACTIONS.entries()) {
      const rate: LatencyRate = {
        fraction,
        target: Math.max(1, Math.round(fraction * rps)),
        sides: sides.map((side) => ({
          side,
          label: peers[side].label,
          rounds: [],
          ...(skipped.has(side) ? { skipped: skipped.get(side) } : {}),
        })),
      };
      result.rates.push(rate);
      await runRate(scenario, rate, index, servers, options);
    }
  } finally {
    for (const { server } of servers.values()) {
      await server.stop();
      options.running.delete(server);
    }
  }
}

const HEADER = [
  'side',
  'target/s',
  'achieved/s',
  'p50 ms',
  'p99 ms',
  'p99.9 ms',
  'errors',
  'unfinished',
  'p99 kelpie/side',
  'note',
  'connections per worker',
];

/** The median of the rounds' p99s (every round's requests pooled, when no round is kept). */
export function medianP99(side: LatencySide): number {
  return side.rounds.length ? median(side.rounds.map((round) => round.p99)) : (side.pooled?.p99 ?? Number.NaN);
}

/** kelpie's median p99 over the side's (below 1: kelpie's tail is shorter). */
function p99Ratio(rate: LatencyRate, side: LatencySide): string {
  const kelpie = rate.sides.find((s) => s.side === 'kelpie');
  if (side.side === 'kelpie' || !kelpie?.rounds.length || !side.rounds.length) return '';
  const ratio = medianP99(kelpie) / medianP99(side);
  return `${fmt(ratio, ratio < 0.1 ? 3 : 2)}x`;
}

/** The median of a figure over the rounds, with its range when there are several: `1.20 (0.85-1.90)`. */
export function medianAndRange(values: number[], digits = 2): string {
  if (!values.length) return '';
  const mid = fmt(median(values), digits);
  return values.length > 1 ? `${mid} (${fmt(Math.min(...values), digits)}-${fmt(Math.max(...values), digits)})` : mid;
}

/** The pooled run's warnings, and every round that started before the machine settled. */
function note(side: LatencySide, pooled: RateLoadResult): string {
  const unsettled = (side.settled ?? []).flatMap((s, round) =>
    s.settled ? [] : [`round ${round + 1} ${describeSettled(s)}`],
  );
  return [...pooled.warnings, ...unsettled].join('; ');
}

function rows(rate: LatencyRate): string[][] {
  return rate.sides.map((side) => {
    const r = side.pooled;
    if (side.skipped || !r)
      return [side.label, String(rate.target), '', '', '', '', '', '', '', `skipped: ${side.skipped}`, ''];
    const of = (pick: (round: RateLoadResult) => number, digits = 2) => medianAndRange(side.rounds.map(pick), digits);
    return [
      side.label,
      String(rate.target),
      fmt(median(side.rounds.map((round) => round.achievedRate))),
      of((round) => round.p50),
      of((round) => round.p99),
      of((round) => round.p999),
      String(r.errors),
      String(r.unfinished),
      p99Ratio(rate, side),
      note(side, r),
      (side.held ?? []).map((held) => formatHeld(held ?? undefined) || '?').join(', '),
    ];
  });
}

/** `node:cluster (RR) saturated (wrk -t2 -c100): 80123 req/s; the others …: kelpie 78000, …`. */
function saturatedLine(scenario: LatencyScenario): string | undefined {
  const { saturation, saturated } = scenario;
  if (!saturation) return undefined;
  const others = Object.entries(saturated ?? {})
    .filter(([side]) => side !== saturation.side)
    .map(([side, rps]) => `${peers[side as PeerName].label} ${Math.round(rps ?? 0)}`);
  return (
    `${peers[saturation.side].label} saturated (${saturation.tool}): ${Math.round(saturation.rps)} req/s` +
    (others.length ? `; the others, each after the same warm-up: ${others.join(', ')}` : '')
  );
}

/** One Markdown table per scenario and rate, padded to read in a terminal too. */
export function latencyTables(report: LatencyReport): string {
  const out: string[] = [];
  const { load, machine, loadAverage } = report;
  const avg = (values: number[]) => values.map((v) => v.toFixed(2)).join(' ');
  out.push(
    `kelpie latency bench ${report.date}: ${machine.cores} cores (${machine.cpu}); load average ${avg(loadAverage.start)} at the start, ${avg(loadAverage.end)} at the end`,
    `load: ${load.tool}, ${load.connections} keep-alive connections, ${load.threads} thread(s), ${load.seconds} s per run, ` +
      `${load.rounds} round(s), latency from each request's intended send time; p50, p99, p99.9 and the ratio: ` +
      'medians of the rounds, their range in brackets; connections per worker by round',
    '',
  );
  for (const scenario of report.scenarios) {
    const node = scenario.node ? `, Node ${scenario.node}` : '';
    out.push(`${scenario.title}${node}, ${scenario.workers} workers`);
    if (scenario.skipped) out.push(`skipped: ${scenario.skipped}`);
    const saturated = saturatedLine(scenario);
    if (saturated) out.push(saturated);
    out.push('');
    for (const rate of scenario.rates) {
      out.push(`${rate.fraction * 100}% of it: ${rate.target} req/s`, '', paddedMarkdownTable(HEADER, rows(rate)), '');
    }
  }
  return out.join('\n');
}

export interface LatencyCommand {
  /** --scenario; default DEFAULT_LATENCY_SCENARIOS. */
  scenarioNames?: string[];
  /** --peers; node:cluster runs whatever is chosen, since it sets the rates. */
  peerNames?: string[];
  seconds: number;
  rounds: number;
  warmup: number;
  threads: number;
  write: boolean;
  docs: boolean;
  command: string;
  resultsDir: string;
  docsDir: string;
  freePort: () => Promise<number>;
  running: Set<RunningServer>;
}

/** The --latency mode end to end: checks its arguments, runs, prints, writes results and the chart. */
export async function latencyCommand(command: LatencyCommand): Promise<number> {
  const chosen: Scenario[] = [];
  for (const name of command.scenarioNames ?? DEFAULT_LATENCY_SCENARIOS) {
    const scenario = allScenarios.find((s) => s.name === name);
    if (!scenario || !latencyCapable(scenario)) {
      console.error(`bench: --latency runs GET scenarios over plain keep-alive HTTP/1.1; not "${name}"`);
      return 2;
    }
    chosen.push(scenario);
  }
  const unknown = command.peerNames?.find((name) => !LATENCY_SIDES.includes(name as PeerName));
  if (unknown) {
    console.error(`bench: --latency compares ${LATENCY_SIDES.join(', ')}; not "${unknown}"`);
    return 2;
  }
  const missing = await ensureCommand('wrk', 'wrk');
  if (missing) {
    console.error(`bench: cannot run without wrk (it measures the saturated rate): ${missing}`);
    return 1;
  }
  const report = await runLatencyBench({
    scenarios: chosen,
    sides: LATENCY_SIDES.filter((side) => !command.peerNames || command.peerNames.includes(side)),
    seconds: command.seconds,
    rounds: command.rounds,
    warmup: command.warmup,
    threads: command.threads,
    connections: 64,
    command: command.command,
    freePort: command.freePort,
    running: command.running,
  });
  console.log(`\n${latencyTables(report)}`);
  if (command.write) {
    mkdirSync(command.resultsDir, { recursive: true });
    const file = writeNewResultFile(
      `${command.resultsDir}latency-${report.date}.json`,
      `${JSON.stringify(report, null, 2)}\n`,
    );
    console.log(`results: ${file}`);
  }
  if (command.docs) {
    writeFileSync(`${command.docsDir}benchmarks-latency.svg`, latencySvg(report));
    console.log(`bench: wrote ${command.docsDir}benchmarks-latency.svg`);
  }
  // kelpie failing requests at a rate its peers hold fails the run, as in --reload and --tls.
  const kelpieErrors = report.scenarios.some((scenario) =>
    scenario.rates.some((rate) => (rate.sides.find((side) => side.side === 'kelpie')?.pooled?.errors ?? 0) > 0),
  );
  return kelpieErrors ? 1 : 0;
}
