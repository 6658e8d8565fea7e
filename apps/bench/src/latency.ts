/**
 * `pnpm bench --latency`: latency at fixed request rates, not at saturation. For each scenario
 * (hello on Node 26 by default, so Platformatic Watt can join), every side is started with 2
 * workers and warmed up; node:cluster's saturated throughput is measured with wrk; then at 25%,
 * 50% and 75% of it each side is driven at that constant rate by the open-model generator
 * (src/rate-load.ts), which measures from intended send times, so a stall counts as latency.
 * The sides take turns at each rate, in an order that rotates from rate to rate and round to
 * round. Reported per rate: target and achieved rate, p50, p99, p99.9, errors, and kelpie's p99
 * over each peer's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { ensureCommand } from '@kelpie/testkit/apt';
import { formatHeld, type HeldConnections, sampleHeld } from './curves-held.js';
import { latencySvg } from './latency-svg.js';
import { describeMachine, timeStamp } from './machine.js';
import { peers } from './peers/index.js';
import { benchNode, registryNode } from './peers/node-runtime.js';
import type { RateLoadRaw } from './rate-load.js';
import { mergeRaw, type RateLoadResult, rateLoadResult, runRateLoad } from './rate-load-runner.js';
import { fmt, paddedMarkdownTable } from './report.js';
import type { BenchReport } from './results.js';
import { scenarios as allScenarios } from './scenarios.js';
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

/** The order the sides take at rate `rate`, round `round`: rotated, so none always goes first. */
export function rotation<T>(sides: T[], turn: number): T[] {
  const shift = sides.length ? turn % sides.length : 0;
  return [...sides.slice(shift), ...sides.slice(0, shift)];
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

/** Starts every side, measures the saturated rate, then each side at each fixed rate; stops them all. */
async function runScenario(
  scenario: Scenario,
  node: NodeRuntime,
  sides: PeerName[],
  skipReasons: Map<PeerName, string | undefined>,
  result: LatencyScenario,
  options: LatencyOptions,
): Promise<void> {
  const servers = new Map<PeerName, { server: RunningServer; url: string; port: number }>();
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
    const wrk = (url: string, seconds: number) =>
      runWrk({ url, seconds, connections: scenario.connections, threads: 2, method: 'GET' });
    if (options.warmup > 0) for (const { url } of servers.values()) await wrk(url, options.warmup);
    const calibrator = servers.get(CALIBRATOR);
    if (!calibrator) {
      result.skipped = `no ${peers[CALIBRATOR].label} to set the rates: ${skipped.get(CALIBRATOR) ?? 'not started'}`;
      return;
    }
    const saturated = await wrk(calibrator.url, options.seconds);
    result.saturation = { side: CALIBRATOR, rps: saturated.rps, tool: `wrk -t2 -c${scenario.connections}` };
    console.log(`${scenario.name}: ${peers[CALIBRATOR].label} saturated at ${Math.round(saturated.rps)} req/s`);
    for (const [index, fraction] of RATE_FRACTIONS.entries()) {
      const target = Math.max(1, Math.round(fraction * saturated.rps));
      const raws = new Map<PeerName, RateLoadRaw[]>();
      const rate: LatencyRate = {
        fraction,
        target,
        sides: sides.map((side) => ({
          side,
          label: peers[side].label,
          rounds: [],
          ...(skipped.has(side) ? { skipped: skipped.get(side) } : {}),
        })),
      };
      result.rates.push(rate);
      for (let round = 0; round < options.rounds; round++) {
        for (const side of rotation([...servers.keys()], index + round)) {
          const { url, port, server } = servers.get(side) as { url: string; port: number; server: RunningServer };
          const sample = sampleHeld(port, server, (WARMUP_S + options.seconds * HELD_AT) * 1000);
          let raw: RateLoadRaw;
          try {
            raw = await runRateLoad({
              url,
              rate: target,
              seconds: options.seconds,
              connections: options.connections,
              threads: options.threads,
              warmupSeconds: WARMUP_S,
            });
          } finally {
            sample.cancel();
          }
          const held = await sample.result;
          raws.set(side, [...(raws.get(side) ?? []), raw]);
          const one = rateLoadResult(raw, target);
          const entry = rate.sides.find((s) => s.side === side);
          entry?.rounds.push(one);
          if (entry) entry.held = [...(entry.held ?? []), held ?? null];
          console.log(
            `${scenario.name} ${fraction * 100}% (${target}/s) round ${round + 1}: ${peers[side].label} ` +
              `p50 ${fmt(one.p50, 2)} p99 ${fmt(one.p99, 2)} p99.9 ${fmt(one.p999, 2)} ms, ` +
              `${Math.round(one.achievedRate)}/s, errors ${one.errors}, unfinished ${one.unfinished}, ` +
              `connections per worker ${formatHeld(held) || '?'}${one.warnings.length ? `; ${one.warnings.join('; ')}` : ''}`,
          );
        }
      }
      for (const side of rate.sides) {
        const measured = raws.get(side.side);
        if (measured?.length) side.pooled = rateLoadResult(mergeRaw(measured, true), target);
      }
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

/** kelpie's p99 over the side's (below 1: kelpie's tail is shorter). */
function p99Ratio(rate: LatencyRate, side: LatencySide): string {
  const kelpie = rate.sides.find((s) => s.side === 'kelpie')?.pooled;
  if (side.side === 'kelpie' || !kelpie || !side.pooled) return '';
  const ratio = kelpie.p99 / side.pooled.p99;
  return `${fmt(ratio, ratio < 0.1 ? 3 : 2)}x`;
}

function rows(rate: LatencyRate): string[][] {
  return rate.sides.map((side) => {
    const r = side.pooled;
    if (side.skipped || !r)
      return [side.label, String(rate.target), '', '', '', '', '', '', '', `skipped: ${side.skipped}`, ''];
    const p99s = side.rounds.map((round) => round.p99);
    const range = p99s.length > 1 ? ` (${fmt(Math.min(...p99s), 2)}-${fmt(Math.max(...p99s), 2)})` : '';
    return [
      side.label,
      String(rate.target),
      fmt(r.achievedRate),
      fmt(r.p50, 2),
      `${fmt(r.p99, 2)}${range}`,
      fmt(r.p999, 2),
      String(r.errors),
      String(r.unfinished),
      p99Ratio(rate, side),
      r.warnings.join('; '),
      (side.held ?? []).map((held) => formatHeld(held ?? undefined) || '?').join(', '),
    ];
  });
}

/** One Markdown table per scenario and rate, padded to read in a terminal too. */
export function latencyTables(report: LatencyReport): string {
  const out: string[] = [];
  const { load, machine, loadAverage } = report;
  const avg = (values: number[]) => values.map((v) => v.toFixed(2)).join(' ');
  out.push(
    `kelpie latency bench ${report.date}: ${machine.cores} cores (${machine.cpu}); load average ${avg(loadAverage.start)} at the start, ${avg(loadAverage.end)} at the end`,
    `load: ${load.tool}, ${load.connections} keep-alive connections, ${load.threads} thread(s), ${load.seconds} s per run, ` +
      `${load.rounds} round(s), latency from each request's intended send time; p99 per round in brackets`,
    '',
  );
  for (const scenario of report.scenarios) {
    const node = scenario.node ? `, Node ${scenario.node}` : '';
    out.push(`${scenario.title}${node}, ${scenario.workers} workers`);
    if (scenario.skipped) out.push(`skipped: ${scenario.skipped}`);
    if (scenario.saturation) {
      out.push(
        `${peers[scenario.saturation.side].label} saturated (${scenario.saturation.tool}): ${Math.round(scenario.saturation.rps)} req/s`,
      );
    }
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
    const file = `${command.resultsDir}latency-${report.date}.json`;
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
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
