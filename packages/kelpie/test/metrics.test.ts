import { createSocket } from 'node:dgram';
import { type KelpieProcess, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get, started } from './helpers.js';

// --metrics-bind (Prometheus /metrics and /healthz, served by the arbiter) and --statsd-host,
// against real servers: requests counted by the workers, summed by the arbiter.

afterEach(stopAll);

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  type: string;
  help: string;
  metrics: Sample[];
}

async function metricsUrl(kp: KelpieProcess): Promise<string> {
  const match = await kp.waitForLog(/Metrics at: (http:\/\/\S+)\/metrics/);
  return match[1] as string;
}

let lastText = '';

async function scrape(base: string): Promise<Map<string, Family>> {
  const reply = await get(`${base}/metrics`);
  expect(reply.status).toBe(200);
  expect(String(reply.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
  lastText = reply.body;
  const families = parsePrometheusTextFormat(reply.body) as Family[];
  return new Map(families.map((family) => [family.name, family]));
}

/**
 * A histogram series from the last scrape's text: the parser merges the buckets of labelled
 * histograms and drops their _sum and _count, so those are read from the lines themselves.
 */
function histogram(
  name: string,
  status: string,
): { buckets: Record<string, number>; ordered: number[]; sum: number; count: number } {
  const value = (line: RegExp) => Number(line.exec(lastText)?.[1]);
  const buckets: Record<string, number> = {};
  const ordered: number[] = [];
  for (const match of lastText.matchAll(
    new RegExp(`^${name}_bucket\\{le="([^"]+)",status="${status}"\\} (\\S+)$`, 'gm'),
  )) {
    buckets[match[1] as string] = Number(match[2]);
    ordered.push(Number(match[2]));
  }
  return {
    buckets,
    ordered,
    sum: value(new RegExp(`^${name}_sum\\{status="${status}"\\} (\\S+)$`, 'm')),
    count: value(new RegExp(`^${name}_count\\{status="${status}"\\} (\\S+)$`, 'm')),
  };
}

const sample = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) =>
  families.get(name)?.metrics.find((m) => Object.entries(labels).every(([key, value]) => m.labels?.[key] === value));

const requestsWith = async (base: string, status: string) =>
  Number(sample(await scrape(base), 'kelpie_http_requests_total', { status })?.value ?? 0);

describe('--metrics-bind', () => {
  it('/metrics sums the requests of 2 workers, with durations, in-flight, memory and lag per worker', async () => {
    const kp = await startKelpie(['-w', '2', '--metrics-bind', '127.0.0.1:0', fixture('pid-app.js')]);
    const base = await metricsUrl(kp);
    // Fresh connections, several at once: both workers take some.
    const pids = new Set<string>();
    let sent200 = 0;
    for (let round = 0; round < 5 && pids.size < 2; round++) {
      const replies = await Promise.all(Array.from({ length: 10 }, () => get(`${kp.url}/sleep?ms=20`)));
      for (const reply of replies) pids.add(String(reply.headers['x-pid']));
      sent200 += replies.filter((reply) => reply.status === 200).length;
    }
    expect(pids.size).toBe(2);
    const failed = await get(`${kp.url}/throw`);
    expect(failed.status).toBe(500);

    await waitUntil(async () => (await requestsWith(base, '200')) === sent200, { what: 'the 200s counted' });
    const families = await scrape(base);
    expect(Number(sample(families, 'kelpie_http_requests_total', { status: '500' })?.value)).toBe(1);
    expect(families.get('kelpie_http_request_duration_seconds')?.type).toBe('HISTOGRAM');
    const durations = histogram('kelpie_http_request_duration_seconds', '200');
    expect(durations.count).toBe(sent200);
    // The /sleep?ms=20 requests took at least 20 ms: none is in the 5 ms and 10 ms buckets.
    expect(durations.buckets['0.01']).toBe(0);
    expect(durations.buckets['+Inf']).toBe(sent200);
    const counts = durations.ordered;
    expect(counts).toHaveLength(12);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(durations.sum).toBeGreaterThan(0.02 * sent200);
    expect(Number(sample(families, 'kelpie_http_requests_in_flight')?.value)).toBe(0);
    const rss = families.get('kelpie_worker_resident_memory_bytes')?.metrics ?? [];
    expect(new Set(rss.map((m) => m.labels?.pid))).toEqual(pids);
    for (const m of rss) expect(Number(m.value)).toBeGreaterThan(10 * 1024 * 1024);
    expect(families.get('kelpie_worker_event_loop_lag_seconds')?.metrics).toHaveLength(2);
    expect(Number(sample(families, 'kelpie_workers')?.value)).toBe(2);
    expect(Number(sample(families, 'kelpie_workers_target')?.value)).toBe(2);

    // Requests in flight are counted while they run.
    const slow = started(`${kp.url}/stream?ms=3000`);
    await slow;
    await waitUntil(async () => Number(sample(await scrape(base), 'kelpie_http_requests_in_flight')?.value) === 1, {
      what: 'one request in flight',
    });
  });

  it('counters keep growing while workers are replaced (--max-requests), with the restart reason', async () => {
    const kp = await startKelpie([
      '-w',
      '1',
      '--max-requests',
      '5',
      '--metrics-bind',
      '127.0.0.1:0',
      fixture('pid-app.js'),
    ]);
    const base = await metricsUrl(kp);
    const pids = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const reply = await get(kp.url).catch(() => undefined);
      if (reply) pids.add(reply.body);
      else i--;
    }
    expect(pids.size).toBeGreaterThanOrEqual(3);
    await waitUntil(async () => (await requestsWith(base, '200')) === 12, { what: 'all 12 requests counted' });
    const families = await scrape(base);
    expect(Number(sample(families, 'kelpie_worker_restarts_total', { reason: 'max_requests' })?.value)).toBe(
      pids.size - 1,
    );
  });

  it('-k threads: the requests of every thread are counted', async () => {
    const kp = await startKelpie([
      '-k',
      'threads',
      '--threads',
      '2',
      '-w',
      '1',
      '--metrics-bind',
      '127.0.0.1:0',
      fixture('pid-app.js'),
    ]);
    const base = await metricsUrl(kp);
    await Promise.all(Array.from({ length: 8 }, () => get(`${kp.url}/sleep?ms=30`)));
    await waitUntil(async () => (await requestsWith(base, '200')) === 8, { what: '8 requests counted' });
  });

  it('/healthz: 200 while serving, 503 while shutting down; other paths 404', async () => {
    const kp = await startKelpie([
      '-w',
      '1',
      '--graceful-timeout',
      '10',
      '--metrics-bind',
      '127.0.0.1:0',
      fixture('pid-app.js'),
    ]);
    const base = await metricsUrl(kp);
    expect((await get(`${base}/healthz`)).status).toBe(200);
    expect((await get(`${base}/`)).status).toBe(404);
    expect((await get(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    // A request keeps the worker busy while the server drains.
    const slow = await started(`${kp.url}/stream?ms=1500`);
    kp.signal('SIGTERM');
    await kp.waitForLog(/Handling signal: term/);
    expect((await get(`${base}/healthz`)).status).toBe(503);
    expect(await slow.body).toBe('start\nend\n');
    expect((await kp.exited()).code).toBe(0);
  });

  it('/healthz: 503 while the workers boot, 200 once every one serves', async () => {
    const kp = await startKelpie(['-w', '2', '--metrics-bind', '127.0.0.1:0', fixture('slow-start-app.mjs')], {
      waitFor: 'listening',
    });
    const base = await metricsUrl(kp);
    expect(kp.log()).not.toMatch(/Ready: 2 workers serving/);
    expect((await get(`${base}/healthz`)).status).toBe(503);
    await kp.waitForLog(/Ready: 2 workers serving/);
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });

  it('bad values name the setting', async () => {
    for (const [flag, value] of [
      ['--metrics-bind', 'localhost'],
      ['--statsd-host', 'host:99999'],
      ['--dogstatsd-tags', 'a|b'],
    ] as const) {
      const kp = await startKelpie([flag, value, fixture('pid-app.js')], { waitFor: 'nothing' });
      expect((await kp.exited()).code).toBe(2);
      expect(kp.log()).toContain(`Invalid value for ${flag}: "${value}"`);
    }
  });
});

describe('--statsd-host', () => {
  it("sends Gunicorn's metrics with the prefix and DogStatsD tags over UDP", async () => {
    const udp = createSocket('udp4');
    const packets: string[] = [];
    udp.on('message', (message) => packets.push(...message.toString('utf8').split('\n')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const { port } = udp.address();
    try {
      const kp = await startKelpie([
        '-w',
        '2',
        '--statsd-host',
        `127.0.0.1:${port}`,
        '--statsd-prefix',
        'shop',
        '--dogstatsd-tags',
        'env:test,team:web',
        fixture('pid-app.js'),
      ]);
      for (let i = 0; i < 3; i++) await get(kp.url);
      await get(`${kp.url}/throw`);
      const has = (pattern: RegExp) => packets.filter((p) => pattern.test(p)).length;
      // Counters are added up per flush: what counts is their sum, as a StatsD server sums them.
      const sum = (pattern: RegExp) => packets.reduce((total, p) => total + Number(pattern.exec(p)?.[1] ?? 0), 0);
      await waitUntil(() => sum(/^shop\.kelpie\.requests:(\d+)\|c\|#env:test,team:web$/) === 4, {
        what: 'four kelpie.requests counted',
      });
      expect(sum(/^shop\.kelpie\.request\.status\.200:(\d+)\|c\|#env:test,team:web$/)).toBe(3);
      expect(sum(/^shop\.kelpie\.request\.status\.500:(\d+)\|c\|#env:test,team:web$/)).toBe(1);
      expect(has(/^shop\.kelpie\.request\.duration:\d+(\.\d+)?\|ms\|#env:test,team:web$/)).toBe(4);
      await waitUntil(() => has(/^shop\.kelpie\.workers:2\|g\|#env:test,team:web$/) > 0, { what: 'the workers gauge' });
    } finally {
      udp.close();
    }
  });

  it('nothing is lost at a graceful stop: what waits for its datagram is sent as the worker exits', async () => {
    const udp = createSocket('udp4');
    const lines: string[] = [];
    udp.on('message', (message) => lines.push(...message.toString('utf8').split('\n')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    try {
      const kp = await startKelpie([
        '-w',
        '1',
        '--statsd-host',
        `127.0.0.1:${udp.address().port}`,
        fixture('pid-app.js'),
      ]);
      await Promise.all(Array.from({ length: 20 }, () => get(kp.url)));
      kp.signal('SIGTERM');
      expect((await kp.exited()).code).toBe(0);
      const sum = (pattern: RegExp) => lines.reduce((total, line) => total + Number(pattern.exec(line)?.[1] ?? 0), 0);
      await waitUntil(() => sum(/^kelpie\.requests:(\d+)\|c$/) === 20, { what: 'twenty kelpie.requests counted' });
      expect(lines.filter((line) => /^kelpie\.request\.duration:\d+(\.\d+)?\|ms$/.test(line))).toHaveLength(20);
      expect(sum(/^kelpie\.request\.status\.200:(\d+)\|c$/)).toBe(20);
    } finally {
      udp.close();
    }
  });

  it('a StatsD server that is not there costs nothing but a warning', async () => {
    // A port nothing listens on: UDP sends succeed or fail quietly; requests are served.
    const kp = await startKelpie(['-w', '1', '--statsd-host', '127.0.0.1:9', fixture('pid-app.js')]);
    for (let i = 0; i < 5; i++) expect((await get(kp.url)).status).toBe(200);
    expect(kp.countLog(/StatsD: could not send/)).toBeLessThanOrEqual(2);
  });
});
