import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { stepOrder } from './curves.js';
import {
  type CurvePoint,
  type CurveRound,
  type CurvesReport,
  curvesSvg,
  curvesTable,
  heldLines,
  summarizeIdle,
  summarizeSteps,
} from './curves-report.js';
import { connectionLimitProblem, FD_MARGIN, parseOpenFileLimits } from './fd-limit.js';
import { holdIdleConnections, responseComplete } from './idle-connections.js';
import { compactNumber, linearTicks, lineChartsSvg, logTicks } from './line-chart.js';

const point = (connections: number, rps: number, p99: number, workerRss = 100 * 2 ** 20): CurvePoint => ({
  connections,
  rps,
  p50: p99 / 2,
  p99,
  errors: 0,
  errorDetail: 'no socket errors; non-2xx 0',
  workerRss,
});

function report(rounds: CurveRound[], idle?: CurvesReport['idle']): CurvesReport {
  return {
    kind: 'curves',
    date: '2026-12-06T12-00',
    command: 'pnpm bench --curves',
    machine: { cores: 2, cpu: 'test', memoryGiB: 24, node: 'v20.0.0', kernel: 'test' },
    loadAverage: { start: 1.5, end: 1.2 },
    load: { tool: 'wrk', threads: 2, seconds: 5, warmupSeconds: 1, rounds: rounds.length },
    workers: 2,
    steps: [10, 10_000],
    sides: { kelpie: { label: 'kelpie', settings: '' }, cluster: { label: 'node:cluster (RR)', settings: '' } },
    openFileLimit: { soft: 20_000, hard: 20_000 },
    rounds,
    ...(idle ? { idle } : {}),
  };
}

// Two rounds: kelpie ahead at 10 connections in both; at 10,000 ahead in one round, behind in the other.
const twoRounds = report([
  {
    round: 1,
    first: 'kelpie',
    points: {
      kelpie: [point(10, 110, 1), point(10_000, 90, 200)],
      cluster: [point(10, 100, 2), point(10_000, 100, 100)],
    },
  },
  {
    round: 2,
    first: 'cluster',
    points: {
      kelpie: [point(10, 130, 1), point(10_000, 120, 100)],
      cluster: [point(10, 100, 1), point(10_000, 100, 100)],
    },
  },
]);

describe('cost curves: ratios and table', () => {
  it('takes the median of the paired per-round ratios at each step, and flags a step below', () => {
    const [low, high] = summarizeSteps(twoRounds);
    expect(low?.rpsRatio).toBeCloseTo(1.2, 10);
    expect(low?.rpsRange).toEqual([1.1, 1.3]);
    expect(low?.p99Ratio).toBeCloseTo(1.5, 10);
    expect(low?.below).toBe(false);
    expect(high?.rpsRatio).toBeCloseTo(1.05, 10);
    // node:cluster's p99 over kelpie's: 0.5 and 1, median 0.75: kelpie's tail is longer here.
    expect(high?.p99Ratio).toBeCloseTo(0.75, 10);
    expect(high?.below).toBe(true);
    expect(high?.kelpie.rps).toBe(105);
  });

  it('prints one row per step with the ratios, and marks the steps below', () => {
    const table = curvesTable(twoRounds).split('\n');
    const row = (n: string) => table.find((line) => line.startsWith(`| ${n} `)) ?? '';
    expect(row('10')).toContain('1.20x (1.10-1.30)');
    expect(row('10')).not.toContain('*');
    expect(row('10,000')).toContain('1.05x (0.90-1.20) *');
    expect(row('10,000')).toContain('0.75x');
  });

  it('lists the connections each worker held at every step where a run counted them, by round', () => {
    expect(heldLines(twoRounds)).toEqual([]);
    const counted = structuredClone(twoRounds);
    const [one, two] = counted.rounds;
    if (!one || !two) throw new Error('two rounds');
    (one.points.kelpie[1] as CurvePoint).held = { workers: [5200, 4800], manager: 0 };
    (one.points.cluster[1] as CurvePoint).held = { workers: [1100, 1090], manager: 7800 };
    (two.points.kelpie[1] as CurvePoint).held = { workers: [5000, 5000], manager: 0 };
    (one.points.kelpie[1] as CurvePoint).place = 2;
    (one.points.cluster[1] as CurvePoint).place = 1;
    expect(heldLines(counted)).toEqual([
      expect.stringContaining('connections held per worker at 80% of each run'),
      '  10,000: r1 0.90x, node:cluster (RR) first: kelpie 5200/4800, node:cluster (RR) 1100/1090 +7800; ' +
        'r2 1.20x: kelpie 5000/5000, node:cluster (RR) ?',
    ]);
    expect(curvesTable(counted)).toContain('  10,000: r1 0.90x');
  });

  it('says how many connections the workers of each side served at each step', () => {
    const counted = structuredClone(twoRounds);
    const [one, two] = counted.rounds;
    if (!one || !two) throw new Error('two rounds');
    (one.points.kelpie[1] as CurvePoint).held = { workers: [5200, 4800], manager: 0 };
    (two.points.kelpie[1] as CurvePoint).held = { workers: [4000, 4000], manager: 0 };
    (one.points.cluster[1] as CurvePoint).held = { workers: [1100, 1090], manager: 7800 };
    (two.points.cluster[1] as CurvePoint).held = { workers: [900, 910], manager: 8100 };
    const [low, high] = summarizeSteps(counted);
    expect(low?.kelpie.held).toBeUndefined();
    expect(high?.kelpie.held).toEqual({ workers: 9000, manager: 0 });
    expect(high?.cluster.held).toEqual({ workers: 2000, manager: 7950 });
    const table = curvesTable(counted).split('\n');
    expect(table[0]).toContain('served by workers kelpie / node:cluster (RR)');
    expect(table.find((line) => line.startsWith('| 10,000 '))).toMatch(/\| 9,000 \/ 2,000 \+7,950 +\|/);
    expect(table.find((line) => line.startsWith('| 10 '))).toContain('| ? / ? ');
  });

  it('gives memory per idle connection as the median worker RSS delta over the connections held', () => {
    const idle = (kelpieDelta: number, clusterDelta: number) => ({
      kelpie: { before: 100 * 2 ** 20, holding: 100 * 2 ** 20 + kelpieDelta, open: 1000 },
      cluster: { before: 90 * 2 ** 20, holding: 90 * 2 ** 20 + clusterDelta, open: 999 },
    });
    const withIdle = report(twoRounds.rounds, {
      connections: 1000,
      rounds: [
        { round: 1, first: 'kelpie', samples: idle(8 * 1024 * 1000, 10 * 1024 * 1000) },
        { round: 2, first: 'cluster', samples: idle(6 * 1024 * 1000, 12 * 1024 * 1000) },
        { round: 3, first: 'kelpie', samples: idle(7 * 1024 * 1000, 11 * 1024 * 1000) },
      ],
    });
    expect(summarizeIdle(withIdle)).toEqual({
      connections: 1000,
      kelpieKiB: 7,
      clusterKiB: 11,
      kelpieOpen: 1000,
      clusterOpen: 999,
    });
    expect(curvesTable(withIdle)).toContain('kelpie 7.0 KiB, node:cluster (RR) 11.0 KiB (still open at the sample');
    expect(summarizeIdle(twoRounds)).toBeUndefined();
  });
});

describe('cost curves: order of the sides', () => {
  it('alternates the side loaded first from step to step and from round to round', () => {
    const firsts = (round: number) => [0, 1, 2, 3].map((step) => stepOrder(round, step)[0]);
    expect(firsts(1)).toEqual(['kelpie', 'cluster', 'kelpie', 'cluster']);
    expect(firsts(2)).toEqual(['cluster', 'kelpie', 'cluster', 'kelpie']);
    expect(firsts(3)).toEqual(firsts(1));
    expect(stepOrder(2, 1)).toEqual(['kelpie', 'cluster']);
  });
});

describe('line charts', () => {
  it('picks round ticks', () => {
    expect(linearTicks(10)).toEqual([0, 2.5, 5, 7.5, 10]);
    expect(linearTicks(9)).toEqual([0, 2.5, 5, 7.5, 10]);
    expect(linearTicks(52_000)).toEqual([0, 20_000, 40_000, 60_000]);
    expect(logTicks(0.4, 250)).toEqual([0.1, 1, 10, 100, 1000]);
    expect(compactNumber(10_000)).toBe('10k');
    expect(compactNumber(1_500_000)).toBe('1.5M');
    expect(compactNumber(0.25)).toBe('0.25');
  });

  it('draws each series as a line on a log x axis, with a tick at every measured x', () => {
    const svg = lineChartsSvg(
      [
        {
          title: 'req/s',
          series: [
            { label: 'kelpie', accent: true, points: [10, 100, 1000, 10_000].map((x) => ({ x, y: 40_000 })) },
            { label: 'node:cluster <RR>', points: [10, 100, 1000, 10_000].map((x) => ({ x, y: 30_000 })) },
          ],
        },
      ],
      'caption',
      'description',
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).toContain('class="line kelpie"');
    expect(svg).toContain('node:cluster &lt;RR&gt;');
    for (const tick of ['10', '100', '1k', '10k']) expect(svg).toContain(`text-anchor="middle">${tick}</text>`);
    // On a log axis the four ticks are evenly spaced.
    const xs = [...svg.matchAll(/<line x1="([\d.]+)" x2="\1" y1="[\d.]+" y2="[\d.]+" class="axis"\/>/g)].map((m) =>
      Number(m[1]),
    );
    expect(xs).toHaveLength(4);
    const gaps = xs.slice(1).map((x, i) => x - (xs[i] as number));
    for (const gap of gaps) expect(gap).toBeCloseTo(gaps[0] as number, 0);
  });

  it('draws the curves chart with three panels, skipping missing points', () => {
    const svg = curvesSvg(twoRounds);
    expect(svg).toContain('requests per second');
    expect(svg).toContain('p99 latency');
    expect(svg).toContain('worker RSS');
    expect(svg.match(/<polyline /g)).toHaveLength(6);
    const empty = curvesSvg(report([]));
    expect(empty).toContain('no data');
    expect(empty).not.toContain('NaN');
  });
});

describe('open-file limit check', () => {
  it('reads the soft and hard limits from /proc/PID/limits', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units',
      'Max open files            1024                 524288               files',
    ].join('\n');
    expect(parseOpenFileLimits(text)).toEqual({ soft: 1024, hard: 524288 });
    expect(parseOpenFileLimits('Max open files  unlimited  unlimited  files')?.hard).toBe(Number.POSITIVE_INFINITY);
    expect(parseOpenFileLimits('nothing here')).toBeUndefined();
  });

  it('says what to run when the limit or the port range is too small, and nothing when they suffice', () => {
    const enough = 10_000 + FD_MARGIN;
    expect(connectionLimitProblem(10_000, { soft: enough, hard: enough }, [32768, 60999])).toBeUndefined();
    expect(connectionLimitProblem(10_000, { soft: 1024, hard: 524288 }, [32768, 60999])).toMatch(
      /open-file limit of at least 11024 .* it is 1024 .*`ulimit -n 11024`$/,
    );
    expect(connectionLimitProblem(10_000, { soft: 1024, hard: 4096 }, undefined)).toContain('ulimit -Hn 11024');
    expect(connectionLimitProblem(10_000, { soft: enough, hard: enough }, [60000, 61000])).toContain(
      'ip_local_port_range',
    );
    expect(connectionLimitProblem(10_000, undefined, undefined)).toBeUndefined();
  });
});

describe('idle keep-alive connections', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('knows when a response with a Content-Length body is whole', () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n';
    expect(responseComplete(head)).toBe(false);
    expect(responseComplete(`${head}hel`)).toBe(false);
    expect(responseComplete(`${head}hello`)).toBe(true);
    expect(responseComplete('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n')).toBe(true);
  });

  it('holds connections open after one answered request each, and closes them', async () => {
    const seen = new Set<unknown>();
    server = createServer((req, res) => {
      seen.add(req.socket);
      res.end('hi');
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const held = await holdIdleConnections(`http://127.0.0.1:${port}/hello`, 50, { parallel: 8, timeoutMs: 20_000 });
    expect(held.open()).toBe(50);
    expect(seen.size).toBe(50);
    await held.close();
    expect(held.open()).toBe(0);
  });

  it('refuses a non-loopback address and fails on a refused connection', async () => {
    await expect(holdIdleConnections('http://192.0.2.1/', 1)).rejects.toThrow(/loopback/);
    server = createServer();
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    await expect(holdIdleConnections(`http://127.0.0.1:${port}/`, 3)).rejects.toThrow(/idle connections/);
  });
});
