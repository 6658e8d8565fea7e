import { describe, expect, it } from 'vitest';
import { cpuSeconds, cpuSnapshot } from './cpu.js';
import { cpuRatios, type SideResult } from './results.js';
import type { LoadResult } from './wrk.js';

describe('CPU time of a process tree', () => {
  it('counts what a live process spent between two snapshots', () => {
    const before = cpuSnapshot([process.pid]);
    // Spend 300 ms of CPU, by this process's own clock (however busy the machine is).
    const start = process.cpuUsage();
    while (process.cpuUsage(start).user < 300_000) Math.sqrt(Math.random());
    const spent = cpuSeconds(before, cpuSnapshot([process.pid]));
    expect(spent).toBeGreaterThan(0.2);
  });

  it('counts all of a process that appeared in between, and skips a pid that is gone', () => {
    const before = new Map([['10@500', 100]]);
    const after = new Map([
      ['10@500', 150],
      ['11@900', 30],
    ]);
    expect(cpuSeconds(before, after) * 100).toBeCloseTo(80, 5);
    expect(cpuSnapshot([2 ** 22 + 1]).size).toBe(0);
  });
});

describe('cpuRatios', () => {
  const run = (cpuUsPerRequest?: number): LoadResult => ({
    rps: 1,
    requests: 1,
    p50: 1,
    p99: 1,
    errors: 0,
    errorDetail: '',
    ...(cpuUsPerRequest === undefined ? {} : { cpuUsPerRequest }),
  });

  it("is the peer's CPU per request over kelpie's, pair by pair, leaving out unmeasured pairs", () => {
    const side: SideResult = {
      side: 'pm2',
      label: 'PM2',
      rounds: [run(60), run(90), run()],
      kelpieRounds: [run(30), run(60), run(40)],
      startupMs: [],
      rss: [],
    };
    expect(cpuRatios(side)).toEqual([2, 1.5]);
  });
});
