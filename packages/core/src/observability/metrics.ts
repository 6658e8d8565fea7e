import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { parseBind } from '../config/bind.js';
import { createServer } from '../node-http.js';
import type { Logger } from './logger.js';
import { DURATION_BUCKETS, type StatusStats, type WorkerStats } from './stats.js';

/**
 * `--metrics-bind`: the arbiter's own HTTP server for Prometheus (`/metrics`) and probes
 * (`/healthz`), apart from the app's sockets. Workers send their counts with each heartbeat;
 * the arbiter adds those of the workers still running to the totals of the ones that exited, so
 * the counters only grow while workers come and go. prom-client sums them and writes the text
 * format (AggregatorRegistry.aggregate, the library's own way to merge per-process metrics).
 */

/** What the arbiter knows, at the moment of a scrape. */
export interface MetricsSnapshot {
  workers: { pid: number; stats: WorkerStats | null }[];
  /** Responses of workers that have exited, by status. */
  retired: Record<string, StatusStats>;
  /** Workers replaced, by reason (crash, timeout, max_requests, memory, reload, killed, signal). */
  restarts: Record<string, number>;
  /** Restarts the crash-loop backoff delayed (workers that exited young). */
  restartDelays?: number;
  /** The target number of workers. */
  numWorkers: number;
}

export interface MetricsSource {
  metricsSnapshot(): MetricsSnapshot;
  /** /healthz: 200 when true. */
  healthy(): boolean;
}

/** A metric in prom-client's JSON form (`registry.getMetricsAsJSON()`), which `aggregate()` sums. */
interface Metric {
  name: string;
  help: string;
  type: string;
  aggregator: 'sum';
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

function metric(name: string, help: string, type: string, values: Metric['values']): Metric {
  return { name, help, type, values, aggregator: 'sum' };
}

const REQUESTS = 'kelpie_http_requests_total';
const DURATION = 'kelpie_http_request_duration_seconds';

/** One source's responses by status, as prom-client's JSON form of a counter and a histogram. */
function responseMetrics(statuses: Record<string, StatusStats>): Metric[] {
  const counts: Metric['values'] = [];
  const histogram: Metric['values'] = [];
  for (const [status, stats] of Object.entries(statuses)) {
    counts.push({ value: stats.count, labels: { status } });
    let cumulative = 0;
    stats.buckets.forEach((n, i) => {
      cumulative += n;
      const le = i < DURATION_BUCKETS.length ? (DURATION_BUCKETS[i] as number) : '+Inf';
      histogram.push({ value: cumulative, metricName: `${DURATION}_bucket`, labels: { le, status } });
    });
    histogram.push({ value: stats.sum, metricName: `${DURATION}_sum`, labels: { status } });
    histogram.push({ value: stats.count, metricName: `${DURATION}_count`, labels: { status } });
  }
  return [
    metric(REQUESTS, 'HTTP responses finished, by status code.', 'counter', counts),
    metric(DURATION, 'Time from the request to the end of its response, by status code.', 'histogram', histogram),
  ];
}

/** The exposition text of a snapshot. */
export async function renderMetrics(snapshot: MetricsSnapshot): Promise<{ text: string; contentType: string }> {
  const { AggregatorRegistry } = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
  const sources: Metric[][] = [responseMetrics(snapshot.retired)];
  for (const { pid, stats } of snapshot.workers) {
    if (!stats) continue;
    const labels = { pid: String(pid) };
    sources.push([
      ...(stats.statuses ? responseMetrics(stats.statuses) : []),
      metric('kelpie_http_requests_in_flight', 'Requests being handled now.', 'gauge', [
        { value: stats.inFlight, labels: {} },
      ]),
      metric('kelpie_worker_resident_memory_bytes', 'Resident memory of each worker process.', 'gauge', [
        { value: stats.rss, labels },
      ]),
      metric(
        'kelpie_worker_event_loop_lag_seconds',
        'Largest event-loop delay of each worker in its last heartbeat period (about a second).',
        'gauge',
        [{ value: stats.lag, labels }],
      ),
      metric('kelpie_worker_requests', 'Requests each worker has started since it booted.', 'gauge', [
        { value: stats.requests, labels },
      ]),
    ]);
  }
  sources.push([
    metric(
      'kelpie_worker_restarts_total',
      'Workers replaced, by reason: crash, timeout, max_requests, memory, reload, killed, signal.',
      'counter',
      Object.entries(snapshot.restarts).map(([reason, value]) => ({ value, labels: { reason } })),
    ),
    metric(
      'kelpie_worker_restart_delays_total',
      'Worker restarts delayed by the crash-loop backoff (a worker that exited sooner than --worker-min-uptime).',
      'counter',
      [{ value: snapshot.restartDelays ?? 0, labels: {} }],
    ),
    metric('kelpie_workers', 'Worker processes running (booting and retiring ones included).', 'gauge', [
      { value: snapshot.workers.length, labels: {} },
    ]),
    metric(
      'kelpie_workers_target',
      'The number of workers the server keeps (--workers, TTIN/TTOU, kelpie ctl).',
      'gauge',
      [{ value: snapshot.numWorkers, labels: {} }],
    ),
  ]);
  const registry = AggregatorRegistry.aggregate(sources as never);
  return { text: await registry.metrics(), contentType: registry.contentType };
}

export interface MetricsServer {
  /** http://HOST:PORT of the socket bound. */
  readonly url: string;
  close(): void;
}

/**
 * Serve /metrics and /healthz on `bind` (HOST:PORT). Rejects with the listen error when the
 * address cannot be bound (the arbiter retries EADDRINUSE while a USR2 parent still holds it).
 */
export async function openMetricsServer(bind: string, source: MetricsSource, log: Logger): Promise<MetricsServer> {
  const address = parseBind(bind);
  if (address.kind !== 'tcp') throw new Error(`--metrics-bind takes HOST:PORT, not ${bind}`);
  const server: Server = createServer((req, res) => void answer(req, res, source, log));
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  server.on('error', (error) => log.error('The metrics server failed', error));
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : address.port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return {
    url: `http://${host}:${port}`,
    close() {
      server.close();
      server.closeAllConnections();
    },
  };
}

async function answer(req: IncomingMessage, res: ServerResponse, source: MetricsSource, log: Logger): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method Not Allowed\n');
    return;
  }
  if (path === '/healthz') {
    const healthy = source.healthy();
    res
      .writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
      .end(healthy ? 'ok\n' : 'unavailable\n');
    return;
  }
  if (path === '/metrics') {
    try {
      const { text, contentType } = await renderMetrics(source.metricsSnapshot());
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(text);
    } catch (error) {
      log.error('Could not render /metrics', error);
      res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error\n');
    }
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found: try /metrics or /healthz\n');
}
