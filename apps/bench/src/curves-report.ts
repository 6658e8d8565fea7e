/**
 * What the cost curves found (`pnpm bench --curves`, src/curves.ts), as written to
 * results/curves-<date>.json, and the tables and ratios made from it. Pure: no processes.
 */
import { formatHeld, type HeldConnections } from './curves-held.js';
import { lineChartsSvg, type Panel } from './line-chart.js';
import { fmt, paddedMarkdownTable } from './report.js';
import { type BenchReport, median } from './results.js';
import type { Settled } from './settle.js';

/** The two sides of the curves, by their role. */
export const CURVE_SIDES = ['kelpie', 'cluster'] as const;
export type CurveSide = (typeof CURVE_SIDES)[number];

/** One wrk run at one connection count. */
export interface CurvePoint {
  connections: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  errorDetail: string;
  /** The highest sum of the worker processes' RSS seen during the run, in bytes. */
  workerRss: number;
  /**
   * The managing process's (arbiter, cluster primary) highest RSS during the run: under RR the
   * primary accepts every connection and holds it until a worker takes it over.
   */
  managerRss?: number;
  /** Established connections each process held at 80% of the run (curves-held.ts), where `ss` could tell. */
  held?: HeldConnections;
  /** This run's seconds, where not the report's (--top-seconds). */
  seconds?: number;
  /** Its place at this step of its round (1: loaded first). */
  place?: number;
  /** How the wait for a settled machine just before the run went (src/settle.ts). */
  settled?: Settled;
}

export interface CurveRound {
  round: number;
  /** Which side was loaded first at the first step of this round (then alternating by step; `place` says). */
  first: CurveSide;
  points: Record<CurveSide, CurvePoint[]>;
}

/** Worker RSS (summed, bytes) before and while holding the idle connections, and how many stayed open. */
export interface IdleSample {
  before: number;
  holding: number;
  /** Connections still open when `holding` was sampled. */
  open: number;
}

export interface IdleRound {
  round: number;
  first: CurveSide;
  samples: Record<CurveSide, IdleSample>;
}

export interface CurvesReport {
  kind: 'curves';
  date: string;
  command: string;
  machine: BenchReport['machine'];
  /** 1-minute load average when the run started and when it ended. */
  loadAverage: { start: number; end: number };
  load: { tool: 'wrk'; threads: number; seconds: number; topSeconds?: number; warmupSeconds: number; rounds: number };
  workers: number;
  /** Connection counts, ascending. */
  steps: number[];
  /** How each side was run: its label and the settings the curves give it. */
  sides: Record<CurveSide, { label: string; settings: string }>;
  /** The open-file limit every process of the run had. */
  openFileLimit: { soft: number; hard: number };
  rounds: CurveRound[];
  idle?: { connections: number; rounds: IdleRound[] };
}

export interface SideStep {
  rps: number;
  p99: number;
  /** Median over rounds of the peak worker RSS, in bytes. */
  workerRss: number;
  errors: number;
  /**
   * Medians over the rounds that counted them: the connections the workers held together late in
   * the run (those they served), and those the manager held (accepted, not handed to a worker).
   */
  held?: { workers: number; manager: number };
}

export interface StepSummary {
  connections: number;
  kelpie: SideStep;
  cluster: SideStep;
  /** kelpie's req/s over node:cluster's, the median of the rounds' paired ratios, and their range. */
  rpsRatio: number;
  rpsRange: [number, number];
  /** node:cluster's p99 over kelpie's (above 1: kelpie's tail is shorter), median of the rounds. */
  p99Ratio: number;
  /** kelpie's curve is below node:cluster's at this step: fewer req/s, or a longer p99. */
  below: boolean;
}

function pointAt(round: CurveRound, side: CurveSide, connections: number): CurvePoint | undefined {
  return round.points[side].find((p) => p.connections === connections);
}

function sideStep(report: CurvesReport, side: CurveSide, connections: number): SideStep {
  const points = report.rounds.flatMap((round) => pointAt(round, side, connections) ?? []);
  const counted = points.flatMap((p) => p.held ?? []);
  return {
    rps: median(points.map((p) => p.rps)),
    p99: median(points.map((p) => p.p99)),
    workerRss: median(points.map((p) => p.workerRss)),
    errors: points.reduce((sum, p) => sum + p.errors, 0),
    ...(counted.length
      ? {
          held: {
            workers: median(counted.map((held) => held.workers.reduce((a, b) => a + b, 0))),
            manager: median(counted.map((held) => held.manager)),
          },
        }
      : {}),
  };
}

/** A ratio per round from the two sides' points at one step (pairs run back to back). */
function roundRatios(report: CurvesReport, connections: number, ratio: (k: CurvePoint, c: CurvePoint) => number) {
  return report.rounds
    .map((round) => {
      const k = pointAt(round, 'kelpie', connections);
      const c = pointAt(round, 'cluster', connections);
      return k && c ? ratio(k, c) : Number.NaN;
    })
    .filter((r) => Number.isFinite(r));
}

/** Every step: both sides' medians and kelpie's ratios to node:cluster. */
export function summarizeSteps(report: CurvesReport): StepSummary[] {
  return report.steps.map((connections) => {
    const rpsRatios = roundRatios(report, connections, (k, c) => k.rps / c.rps);
    const p99Ratio = median(roundRatios(report, connections, (k, c) => c.p99 / k.p99));
    const rpsRatio = median(rpsRatios);
    return {
      connections,
      kelpie: sideStep(report, 'kelpie', connections),
      cluster: sideStep(report, 'cluster', connections),
      rpsRatio,
      rpsRange: rpsRatios.length ? [Math.min(...rpsRatios), Math.max(...rpsRatios)] : [Number.NaN, Number.NaN],
      p99Ratio,
      below: rpsRatio < 1 || p99Ratio < 1,
    };
  });
}

export interface IdleSummary {
  connections: number;
  /** Median over rounds of (worker RSS while holding − before) / connections, in KiB. */
  kelpieKiB: number;
  clusterKiB: number;
  /** Fewest connections still open at a sample, per side (all of them, unless a server closed some). */
  kelpieOpen: number;
  clusterOpen: number;
}

export function summarizeIdle(report: CurvesReport): IdleSummary | undefined {
  const { idle } = report;
  if (!idle?.rounds.length) return undefined;
  const perConnection = (side: CurveSide) =>
    median(idle.rounds.map(({ samples }) => (samples[side].holding - samples[side].before) / idle.connections / 1024));
  const fewestOpen = (side: CurveSide) => Math.min(...idle.rounds.map(({ samples }) => samples[side].open));
  return {
    connections: idle.connections,
    kelpieKiB: perConnection('kelpie'),
    clusterKiB: perConnection('cluster'),
    kelpieOpen: fewestOpen('kelpie'),
    clusterOpen: fewestOpen('cluster'),
  };
}

const MB = 1024 * 1024;
const count = (n: number) => n.toLocaleString('en-US');

/** `10,000`, or `1,950 +8,050` with what the manager held: connections served by the workers. */
export function formatServed(step: SideStep): string {
  if (!step.held) return '?';
  const { workers, manager } = step.held;
  return `${count(Math.round(workers))}${manager > 0 ? ` +${count(Math.round(manager))}` : ''}`;
}

/**
 * Where the connections were late in each run, a line per step, round by round with that round's
 * req/s ratio and the side loaded first: how evenly the workers shared them, and how many
 * node:cluster's primary still held. So a ratio that moves with the split shows it. Nothing when
 * no run has it.
 */
export function heldLines(report: CurvesReport): string[] {
  const k = report.sides.kelpie.label;
  const c = report.sides.cluster.label;
  const steps = report.steps.filter((connections) =>
    report.rounds.some((round) => CURVE_SIDES.some((side) => pointAt(round, side, connections)?.held)),
  );
  if (!steps.length) return [];
  const inRound = (round: CurveRound, connections: number) => {
    const kp = pointAt(round, 'kelpie', connections);
    const cp = pointAt(round, 'cluster', connections);
    const ratio = kp && cp ? `${fmt(kp.rps / cp.rps, 2)}x` : '?';
    const first = kp?.place === 1 ? `, ${k} first` : cp?.place === 1 ? `, ${c} first` : '';
    return `r${round.round} ${ratio}${first}: ${k} ${formatHeld(kp?.held) || '?'}, ${c} ${formatHeld(cp?.held) || '?'}`;
  };
  return [
    `connections held per worker at 80% of each run, with ${k}'s req/s over ${c}'s, by round ` +
      '(+N: held by the arbiter or primary, not yet handed to a worker):',
    ...steps.map(
      (connections) =>
        `  ${count(connections)}: ${report.rounds.map((round) => inRound(round, connections)).join('; ')}`,
    ),
  ];
}

/** The curves as one Markdown table (padded, so it reads in a terminal too), then the idle line. */
export function curvesTable(report: CurvesReport): string {
  const k = report.sides.kelpie.label;
  const c = report.sides.cluster.label;
  const header = [
    'connections',
    `${k} req/s`,
    `${c} req/s`,
    'req/s ratio (rounds)',
    `${k} p99 ms`,
    `${c} p99 ms`,
    'p99 ratio',
    `${k} RSS MB`,
    `${c} RSS MB`,
    `served by workers ${k} / ${c}`,
    'errors',
  ];
  const body = summarizeSteps(report).map((s) => [
    count(s.connections),
    fmt(s.kelpie.rps),
    fmt(s.cluster.rps),
    `${fmt(s.rpsRatio, 2)}x (${fmt(s.rpsRange[0], 2)}-${fmt(s.rpsRange[1], 2)})${s.below ? ' *' : ''}`,
    fmt(s.kelpie.p99, 2),
    fmt(s.cluster.p99, 2),
    `${fmt(s.p99Ratio, 2)}x`,
    fmt(s.kelpie.workerRss / MB, 1),
    fmt(s.cluster.workerRss / MB, 1),
    `${formatServed(s.kelpie)} / ${formatServed(s.cluster)}`,
    `${s.kelpie.errors}/${s.cluster.errors}`,
  ]);
  const lines = [paddedMarkdownTable(header, body), ''];
  lines.push(
    `req/s ratio: ${k} over ${c}; p99 ratio: ${c}'s p99 over ${k}'s (above 1: ${k}'s is shorter); ` +
      `* marks a step where ${k}'s curve is below (a ratio under 1). RSS: peak sum of the ${report.workers} ` +
      `workers during the run, fresh servers each round, steps in ascending order. served by workers: the ` +
      `connections the workers held together at 80% of the run (+N: held by the arbiter or primary, accepted ` +
      `and not handed out), medians of the rounds; the req/s are those of the connections served. ` +
      `errors: ${k}/${c}, all rounds.`,
  );
  lines.push(...heldLines(report));
  const idle = summarizeIdle(report);
  if (idle) {
    lines.push(
      `memory per idle keep-alive connection (${count(idle.connections)} held, each after one request, worker RSS ` +
        `delta / connections, median of ${report.idle?.rounds.length} round(s)): ${k} ${fmt(idle.kelpieKiB, 1)} KiB, ` +
        `${c} ${fmt(idle.clusterKiB, 1)} KiB` +
        (idle.kelpieOpen < idle.connections || idle.clusterOpen < idle.connections
          ? ` (still open at the sample, fewest: ${k} ${idle.kelpieOpen}, ${c} ${idle.clusterOpen})`
          : ''),
    );
  }
  return lines.join('\n');
}

/**
 * The chart for docs/benchmarks.md: req/s, p99 (log scale) and peak worker RSS against the
 * connection count (log scale), one line per side, the medians of the rounds.
 */
export function curvesSvg(report: CurvesReport): string {
  const steps = summarizeSteps(report);
  const panel = (title: string, value: (side: SideStep) => number, extra: Partial<Panel> = {}): Panel => ({
    title,
    series: CURVE_SIDES.map((side) => ({
      label: report.sides[side].label,
      accent: side === 'kelpie',
      points: steps.map((step) => ({ x: step.connections, y: value(step[side]) })),
    })),
    ...extra,
  });
  const { machine, load } = report;
  const caption =
    `${report.date} · ${machine.cores} cores · Node ${machine.node} · hello world, ${report.workers} workers · ` +
    `${load.tool} -t${load.threads}, ${load.seconds} s × ${load.rounds} rounds, medians · load average ${fmt(report.loadAverage.start, 1)}-${fmt(report.loadAverage.end, 1)}`;
  return lineChartsSvg(
    [
      panel('requests per second', (side) => side.rps),
      panel('p99 latency, ms (log scale)', (side) => side.p99, {
        logY: true,
        formatY: (ms) => (ms < 1 ? String(+ms.toPrecision(2)) : String(Math.round(ms))),
      }),
      panel('worker RSS, MB (sum, peak)', (side) => side.workerRss / MB),
    ],
    caption,
    'kelpie and node:cluster against the number of keep-alive connections',
  );
}
