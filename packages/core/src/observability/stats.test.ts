import { describe, expect, it } from 'vitest';
import { renderMetrics } from './metrics.js';
import { addStatuses, DURATION_BUCKETS, REQUEST_STATS_LENGTH, RequestStats } from './stats.js';
import { parseStatsdAddress } from './statsd.js';

describe('RequestStats', () => {
  it('counts in-flight requests and finished ones by status and duration bucket', () => {
    const stats = new RequestStats();
    stats.begin();
    stats.begin();
    expect(stats.inFlight).toBe(2);
    stats.end(200, 0.003);
    stats.end(200, 0.2);
    stats.begin();
    stats.end(404, 12);
    stats.begin();
    stats.end(0, 0.001);
    expect(stats.inFlight).toBe(0);
    const statuses = stats.statuses();
    expect(Object.keys(statuses).sort()).toEqual(['200', '404', 'other']);
    expect(statuses['200']?.count).toBe(2);
    expect(statuses['200']?.sum).toBeCloseTo(0.203);
    // 0.003 s in the first bucket (<= 5 ms), 0.2 s in the 0.25 s bucket.
    expect(statuses['200']?.buckets[0]).toBe(1);
    expect(statuses['200']?.buckets[DURATION_BUCKETS.indexOf(0.25)]).toBe(1);
    // 12 s is above the last bound: the +Inf bucket.
    expect(statuses['404']?.buckets).toHaveLength(DURATION_BUCKETS.length + 1);
    expect(statuses['404']?.buckets.at(-1)).toBe(1);
  });

  it('untimed ends only count in-flight', () => {
    const stats = new RequestStats();
    stats.begin();
    stats.end(200, -1);
    expect(stats.inFlight).toBe(0);
    expect(stats.statuses()).toEqual({});
  });

  it('adds up buffers (shared ones too), with or without in-flight requests', () => {
    const a = new RequestStats(new SharedArrayBuffer(REQUEST_STATS_LENGTH * 8));
    const b = new RequestStats();
    a.begin();
    a.begin();
    a.end(200, 0.01);
    b.begin();
    b.end(200, 0.02);
    const sum = new RequestStats();
    sum.add(a);
    sum.add(b, false);
    expect(sum.inFlight).toBe(1);
    expect(sum.statuses()['200']?.count).toBe(2);
    const into = {};
    addStatuses(into, a.statuses());
    addStatuses(into, b.statuses());
    expect(into).toEqual(sum.statuses());
  });
});

describe('renderMetrics', () => {
  it('sums workers and the totals of exited ones; per-worker gauges keep their pid', async () => {
    const worker = (count: number) => {
      const stats = new RequestStats();
      for (let i = 0; i < count; i++) {
        stats.begin();
        stats.end(200, 0.01);
      }
      return { requests: count, inFlight: 0, rss: 50_000_000, lag: 0.002, statuses: stats.statuses() };
    };
    const { text, contentType } = await renderMetrics({
      workers: [
        { pid: 11, stats: worker(3) },
        { pid: 12, stats: worker(4) },
        { pid: 13, stats: null },
      ],
      retired: worker(5).statuses,
      restarts: { max_requests: 2 },
      numWorkers: 2,
    });
    expect(contentType).toMatch(/^text\/plain/);
    expect(text).toContain('kelpie_http_requests_total{status="200"} 12');
    expect(text).toContain('kelpie_http_request_duration_seconds_bucket{le="0.01",status="200"} 12');
    expect(text).toContain('kelpie_http_request_duration_seconds_count{status="200"} 12');
    expect(text).toContain('kelpie_worker_resident_memory_bytes{pid="11"} 50000000');
    expect(text).toContain('kelpie_worker_resident_memory_bytes{pid="12"} 50000000');
    expect(text).toContain('kelpie_worker_restarts_total{reason="max_requests"} 2');
    expect(text).toContain('kelpie_workers 3');
    expect(text).toContain('kelpie_workers_target 2');
  });
});

describe('parseStatsdAddress', () => {
  it('reads HOST:PORT, [IPv6]:PORT and a bare host (port 8125)', () => {
    expect(parseStatsdAddress('localhost:9125')).toEqual({ host: 'localhost', port: 9125 });
    expect(parseStatsdAddress('[::1]:8126')).toEqual({ host: '::1', port: 8126 });
    expect(parseStatsdAddress('statsd')).toEqual({ host: 'statsd', port: 8125 });
    expect(parseStatsdAddress('host:0')).toBeUndefined();
    expect(parseStatsdAddress('host:70000')).toBeUndefined();
    expect(parseStatsdAddress('unix:///tmp/statsd.sock')).toBeUndefined();
  });
});
