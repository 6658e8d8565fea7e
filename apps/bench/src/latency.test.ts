import { describe, expect, it } from 'vitest';
import { type LatencyReport, latencyCapable, latencyTables, medianAndRange, medianP99 } from './latency.js';
import { latencySvg } from './latency-svg.js';
import type { RateLoadResult } from './rate-load-runner.js';
import { scenarios } from './scenarios.js';

const byName = (name: string) => scenarios.find((s) => s.name === name);

describe('the latency mode', () => {
  it('drives GET scenarios over plain keep-alive HTTP/1.1 only', () => {
    expect(['hello-26', 'json-26', 'express-26', 'hello'].map((n) => latencyCapable(byName(n)!))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(latencyCapable(byName('echo')!)).toBe(false);
    expect(latencyCapable(byName('ws-echo')!)).toBe(false);
    expect(latencyCapable(byName('hello-sticky-close')!)).toBe(false);
  });
});

describe('the latency report', () => {
  const result = (p99: number, warnings: string[] = []): RateLoadResult => ({
    targetRate: 1000,
    achievedRate: 1000,
    p50: 0.2,
    p99,
    p999: p99 * 2,
    max: p99 * 3,
    errors: 0,
    unfinished: 0,
    counts: { scheduled: 10_000, sent: 10_000, completed: 10_000, non2xx: 0, socketErrors: 0, unfinished: 0 },
    generatorLagP99: 0.1,
    warnings,
  });
  const report: LatencyReport = {
    date: '2026-12-06T14-00',
    command: 'pnpm bench --latency',
    machine: { cores: 2, cpu: 'test', memoryGiB: 4, node: 'v20.20.2', kernel: '6' },
    loadAverage: { start: [1, 1, 1], end: [1, 1, 1] },
    load: { tool: 'rate-load', connections: 64, threads: 1, seconds: 10, rounds: 1, warmupSeconds: 1 },
    scenarios: [
      {
        scenario: 'hello-26',
        title: 'hello world (14 B)',
        node: 'v26.10.0',
        workers: 2,
        saturation: { side: 'cluster-rr', rps: 4000, tool: 'wrk -t2 -c100' },
        rates: [
          {
            fraction: 0.25,
            target: 1000,
            sides: [
              { side: 'kelpie', label: 'kelpie', rounds: [result(1)], pooled: result(1) },
              { side: 'cluster-rr', label: 'node:cluster (RR)', rounds: [result(2)], pooled: result(2, ['slow']) },
              { side: 'watt', label: 'Platformatic Watt', rounds: [], skipped: 'cannot install' },
            ],
          },
        ],
      },
    ],
  };

  it("prints a table per rate with kelpie's p99 over each peer's, warnings and skips", () => {
    const text = latencyTables(report);
    expect(text).toContain('node:cluster (RR) saturated (wrk -t2 -c100): 4000 req/s');
    expect(text).toContain('25% of it: 1000 req/s');
    expect(text).toMatch(
      /\| node:cluster \(RR\) +\| 1000 +\| 1000 +\| 0\.20 +\| 2\.00 +\| 4\.00 +\| 0 +\| 0 +\| 0\.50x +\| slow/,
    );
    expect(text).toMatch(/\| Platformatic Watt .*skipped: cannot install/);
  });

  it('gives the median of the rounds with their range, so one outlier round shows', () => {
    expect(medianAndRange([1.5, 0.84, 0.89])).toBe('0.89 (0.84-1.50)');
    expect(medianAndRange([1.2])).toBe('1.20');
    expect(medianAndRange([])).toBe('');
    const three = structuredClone(report);
    const rate = three.scenarios[0]!.rates[0]!;
    three.load.rounds = 3;
    three.scenarios[0]!.saturated = { 'cluster-rr': 4000, kelpie: 3900 };
    const [kelpie, cluster] = rate.sides;
    kelpie!.rounds = [result(1.5), result(0.84), result(0.89)];
    kelpie!.settled = [
      { settled: true, ms: 120, connections: 0, serverCpu: 0, machineBusy: 0.1 },
      { settled: false, ms: 5000, connections: 0, serverCpu: 0.3, machineBusy: 0.2, why: 'servers at 0.30 cores' },
      { settled: true, ms: 90, connections: 0, serverCpu: 0, machineBusy: 0.1 },
    ];
    cluster!.rounds = [result(1.04), result(0.91), result(0.86)];
    expect(medianP99(kelpie!)).toBe(0.89);
    const text = latencyTables(three);
    expect(text).toContain(
      'node:cluster (RR) saturated (wrk -t2 -c100): 4000 req/s; the others, each after the same warm-up: kelpie 3900',
    );
    expect(text).toMatch(
      /\| kelpie +\| 1000 +\| 1000 +\| 0\.20 \(0\.20-0\.20\) +\| 0\.89 \(0\.84-1\.50\) +\| 1\.78 \(1\.68-3\.00\) +\|/,
    );
    // kelpie's median p99 over node:cluster's: 0.89 / 0.91.
    expect(text).toMatch(/\| node:cluster \(RR\) +\|.*\| 0\.91 \(0\.86-1\.04\) +\|.*\| 0\.98x +\| slow/);
    expect(text).toContain('round 2 not settled after 5000 ms (servers at 0.30 cores)');
  });

  it('draws a bar per measured side, none for a skipped one', () => {
    const svg = latencySvg(report);
    expect(svg.match(/<rect x=/g)).toHaveLength(2);
    expect(svg).toContain('p99 1.00 ms');
    expect(svg).not.toContain('Platformatic Watt');
  });
});
