import { writeFileSync } from 'node:fs';
import type { PeerName } from './types.js';
import type { LoadResult } from './wrk.js';

/** What one run of the bench found, as written to results/<date>.json. */

export type SideName = 'kelpie' | PeerName;

export interface SideResult {
  side: SideName;
  label: string;
  /** Measured runs in order: for a peer one per round; for kelpie one per peer per round. */
  rounds: LoadResult[];
  /** For a peer: the kelpie run made right before each of its own, paired by index. */
  kelpieRounds?: LoadResult[];
  /** Milliseconds from spawn to the first 200 response, per round. */
  startupMs: number[];
  /** Resident memory after the round's load: the managing process and each serving process, in bytes. */
  rss: { manager: number; workers: number[] }[];
  /** Why this side did not run. */
  skipped?: string;
}

export interface GroupResult {
  scenario: string;
  title: string;
  /** The Node its sides ran on, when not the bench's own (`machine.node`). */
  node?: string;
  workers: number;
  connections: number;
  sides: SideResult[];
}

export interface MemoryResult {
  /** A bare node:http process serving the hello handler, after the same warm-up load. */
  bareNode: number;
  kelpieArbiter: number;
  kelpieWorkers: number[];
}

export interface BenchReport {
  date: string;
  command: string;
  machine: { cores: number; cpu: string; memoryGiB: number; node: string; kernel: string };
  load: { tool: string; threads: number; seconds: number; warmupSeconds: number; rounds: number; pipelining: number };
  cpuIterations: number;
  groups: GroupResult[];
  memory?: MemoryResult;
  /** Idle WebSocket connections held against kelpie -k ws and a raw ws server in node:cluster. */
  wsHold?: WsHoldResult;
}

export const median = (values: number[]): number => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** kelpie's req/s over the peer's, run pair by run pair (each pair ran back to back). */
export function roundRatios(side: SideResult): number[] {
  return side.rounds
    .map((round, i) => (side.kelpieRounds?.[i]?.rps ?? Number.NaN) / round.rps)
    .filter((ratio) => Number.isFinite(ratio));
}

/** kelpie's median over the peer's median, from the paired runs only. */
export function pairedRatio(side: SideResult): number {
  return median((side.kelpieRounds ?? []).map((r) => r.rps)) / medianRps(side);
}

/**
 * The peer's CPU time per request over kelpie's, run pair by run pair (above 1: kelpie spends
 * less CPU per request). Steadier than the req/s ratio when neighbours take cores away.
 */
export function cpuRatios(side: SideResult): number[] {
  return side.rounds
    .map((round, i) => (round.cpuUsPerRequest ?? Number.NaN) / (side.kelpieRounds?.[i]?.cpuUsPerRequest ?? Number.NaN))
    .filter((ratio) => Number.isFinite(ratio));
}

export function medianRps(side: SideResult): number {
  return median(side.rounds.map((r) => r.rps));
}

export interface WsHoldResult {
  /** Idle connections held, spread over the workers. */
  connections: number;
  workers: number;
  /** Total worker RSS before and while holding them, in bytes, per side. */
  kelpie: { before: number; holding: number };
  cluster: { before: number; holding: number };
}

/**
 * Write a results file that did not exist: runs started in the same minute (the date names
 * files to the minute) get `-2`, `-3`… rather than one overwriting the other. Returns its path.
 */
export function writeNewResultFile(path: string, text: string): string {
  for (let n = 1; ; n++) {
    const file = n === 1 ? path : path.replace(/(\.json)?$/, `-${n}$1`);
    try {
      writeFileSync(file, text, { flag: 'wx' });
      return file;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 1000) throw error;
    }
  }
}
