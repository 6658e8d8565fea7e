import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { PidsSeen, pollAllWorkers, type StartupReport, startupRatios, startupTable } from './startup.js';

describe('PidsSeen', () => {
  it('is complete at the answer that brings the count of distinct pids to the worker count', () => {
    const seen = new PidsSeen(2);
    seen.add('101', 10);
    seen.add('101\n', 12);
    expect(seen.completeAt).toBeUndefined();
    seen.add('102', 15);
    seen.add('103', 20);
    expect(seen).toMatchObject({ firstAt: 10, completeAt: 15, count: 3 });
  });

  it('ignores bodies that are not a pid', () => {
    const seen = new PidsSeen(1);
    seen.add('Not Found', 5);
    seen.add('', 6);
    seen.add('-3', 7);
    expect(seen.firstAt).toBeUndefined();
    seen.add('42', 8);
    expect(seen).toMatchObject({ firstAt: 8, completeAt: 8 });
  });
});

const report = (kelpie: number[], cluster: number[]): StartupReport => ({
  date: '2026-01-01T00:00:00.000Z',
  node: 'v20.0.0',
  workers: 2,
  rounds: kelpie.length,
  load: { before: [1, 1, 1], after: [2, 2, 2] },
  sides: [
    { side: 'kelpie', label: 'kelpie', samples: kelpie.map((allMs) => ({ firstMs: allMs - 10, allMs })) },
    {
      side: 'cluster-rr',
      label: 'node:cluster (RR)',
      samples: cluster.map((allMs) => ({ firstMs: allMs - 5, allMs })),
    },
    { side: 'pm2', label: 'PM2 cluster mode', samples: [], skipped: 'failed: no pm2' },
  ],
});

describe('startup results', () => {
  it("gives the median of kelpie's time over each peer's, round by round", () => {
    // Rounds: 300/100 = 3, 200/200 = 1, 250/125 = 2.
    const ratios = startupRatios(report([300, 200, 250], [100, 200, 125]));
    expect(ratios[0]).toEqual({ side: 'cluster-rr', ratio: 2 });
    expect(ratios[1]?.side).toBe('pm2');
    expect(Number.isNaN(ratios[1]?.ratio)).toBe(true);
  });

  it('tables medians, rounds, the ratio, a skipped side and the load', () => {
    const table = startupTable(report([300, 200, 250], [100, 200, 125]));
    expect(table).toMatch(/\| kelpie +\| 250 +\| 240 +\| 300 200 250 +\| +\|/);
    expect(table).toMatch(/\| node:cluster \(RR\) +\| 125 +\| 120 +\| 100 200 125 +\| 2\.00x +\|/);
    expect(table).toContain('skipped: failed: no pm2');
    expect(table).toContain('load average 1.00 1.00 1.00 before, 2.00 2.00 2.00 after');
  });
});

describe('pollAllWorkers', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('polls until as many pids have answered as there are workers', async () => {
    // One process plays two workers: every third answer names another pid.
    let n = 0;
    server = createServer((_req, res) => res.end(String(++n % 3 === 0 ? 2 : 1)));
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const seen = await pollAllWorkers(port, 2, performance.now(), () => false);
    expect(seen.count).toBe(2);
    expect(seen.completeAt).toBeGreaterThanOrEqual(seen.firstAt ?? Number.NaN);
  });

  it('stops when the side has failed', async () => {
    // Nothing listens on a port just released.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    let checks = 0;
    const seen = await pollAllWorkers(port, 2, performance.now(), () => ++checks > 3);
    expect(seen.completeAt).toBeUndefined();
    expect(checks).toBe(4);
  });
});
