/**
 * TLS and HTTP/2: what TLS and HTTP/2 cost kelpie in throughput, beside node:cluster serving the
 * same hello app with https.createServer and http2.createSecureServer, 2 workers each, loopback
 * only. HTTP/1.1 is loaded with wrk (plain and over TLS), HTTP/2 with h2load. The six servers are
 * started once and warmed up; then in every round the two halves of each ratio are loaded back to
 * back (which goes first alternates), so drift on the shared machine weighs on both, as in the
 * main report. Throw-away certificates come from @kelpie/testkit; wrk and h2load do not check
 * them, the readiness probe does.
 */
import { rmSync } from 'node:fs';
import { type Certificates, makeCertificates } from '@kelpie/testkit/certificates';
import { runH2load } from './h2load.js';
import { describeMachine, timeStamp } from './machine.js';
import { peers } from './peers/index.js';
import { fmt, paddedMarkdownTable } from './report.js';
import { type BenchReport, median } from './results.js';
import { scenarios } from './scenarios.js';
import type { RunningServer, Scenario, ScenarioTls } from './types.js';
import { runWrk } from './wrk.js';

type ServerId = 'kelpie-http' | 'kelpie-tls' | 'kelpie-h2' | 'cluster-http' | 'cluster-tls' | 'cluster-h2';
type RunId =
  | 'kelpie-http'
  | 'kelpie-tls'
  | 'kelpie-h2-server-h1'
  | 'kelpie-tls-h2load'
  | 'kelpie-h2'
  | 'cluster-http'
  | 'cluster-tls'
  | 'cluster-h2-server-h1'
  | 'cluster-h2';
type Client = 'wrk' | 'h2load' | 'h2load --h1';

interface ServerSpec {
  id: ServerId;
  peer: 'kelpie' | 'cluster-rr';
  /** How it is run, for the table. */
  label: string;
  /** Plain HTTP when absent. */
  protocols?: ScenarioTls['protocols'];
}

const SERVERS: ServerSpec[] = [
  { id: 'kelpie-http', peer: 'kelpie', label: 'kelpie' },
  { id: 'kelpie-tls', peer: 'kelpie', label: 'kelpie --certfile --keyfile', protocols: 'h1' },
  { id: 'kelpie-h2', peer: 'kelpie', label: 'kelpie --certfile --keyfile --http-protocols h2,h1', protocols: 'h2,h1' },
  { id: 'cluster-http', peer: 'cluster-rr', label: 'node:cluster (RR), http.createServer' },
  { id: 'cluster-tls', peer: 'cluster-rr', label: 'node:cluster (RR), https.createServer', protocols: 'h1' },
  {
    id: 'cluster-h2',
    peer: 'cluster-rr',
    label: 'node:cluster (RR), http2.createSecureServer (allowHTTP1)',
    protocols: 'h2,h1',
  },
];

interface RunSpec {
  id: RunId;
  server: ServerId;
  client: Client;
  /** What goes over the wire. */
  protocol: string;
}

const RUNS: RunSpec[] = [
  { id: 'kelpie-http', server: 'kelpie-http', client: 'wrk', protocol: 'HTTP/1.1' },
  { id: 'kelpie-tls', server: 'kelpie-tls', client: 'wrk', protocol: 'HTTP/1.1 over TLS' },
  { id: 'kelpie-h2-server-h1', server: 'kelpie-h2', client: 'wrk', protocol: 'HTTP/1.1 over TLS (ALPN fallback)' },
  { id: 'kelpie-tls-h2load', server: 'kelpie-tls', client: 'h2load --h1', protocol: 'HTTP/1.1 over TLS' },
  { id: 'kelpie-h2', server: 'kelpie-h2', client: 'h2load', protocol: 'HTTP/2 over TLS' },
  { id: 'cluster-http', server: 'cluster-http', client: 'wrk', protocol: 'HTTP/1.1' },
  { id: 'cluster-tls', server: 'cluster-tls', client: 'wrk', protocol: 'HTTP/1.1 over TLS' },
  { id: 'cluster-h2-server-h1', server: 'cluster-h2', client: 'wrk', protocol: 'HTTP/1.1 over TLS (ALPN fallback)' },
  { id: 'cluster-h2', server: 'cluster-h2', client: 'h2load', protocol: 'HTTP/2 over TLS' },
];

const RATIOS: { name: string; of: RunId; over: RunId }[] = [
  { name: 'kelpie: TLS / plain (HTTP/1.1, wrk)', of: 'kelpie-tls', over: 'kelpie-http' },
  { name: 'node:cluster: TLS / plain (HTTP/1.1, wrk)', of: 'cluster-tls', over: 'cluster-http' },
  { name: 'kelpie: h2 / h1 over TLS (h2load / wrk)', of: 'kelpie-h2', over: 'kelpie-tls' },
  { name: 'kelpie: h2 / h1 over TLS (h2load for both)', of: 'kelpie-h2', over: 'kelpie-tls-h2load' },
  { name: 'kelpie: h2,h1 / h1 server, to HTTP/1.1 clients (wrk)', of: 'kelpie-h2-server-h1', over: 'kelpie-tls' },
  {
    name: 'node:cluster: http2 / https server, to HTTP/1.1 clients (wrk)',
    of: 'cluster-h2-server-h1',
    over: 'cluster-tls',
  },
  { name: 'kelpie / node:cluster, plain HTTP/1.1', of: 'kelpie-http', over: 'cluster-http' },
  { name: 'kelpie / node:cluster, HTTP/1.1 over TLS', of: 'kelpie-tls', over: 'cluster-tls' },
  { name: 'kelpie / node:cluster, HTTP/2 over TLS', of: 'kelpie-h2', over: 'cluster-h2' },
];

/** What one run measured; wrk's results also carry latencies, h2load's the protocol ALPN chose. */
export interface TlsLoad {
  rps: number;
  requests: number;
  errors: number;
  errorDetail: string;
}

export interface TlsRunResult {
  id: RunId;
  server: string;
  protocol: string;
  client: Client;
  /** Every measured run of it, in order: one per ratio it is part of, per round. */
  loads: TlsLoad[];
  /** Why it did not run, or stopped running. */
  skipped?: string;
}

export interface TlsRatio {
  name: string;
  of: RunId;
  over: RunId;
  /** Req/s of the two, loaded back to back, one pair per round. */
  pairs: [number, number][];
  /** Median req/s of `of` over that of `over`, from the pairs. */
  ratio: number;
}

export interface TlsReport {
  date: string;
  command: string;
  machine: BenchReport['machine'];
  load: {
    workers: number;
    connections: number;
    threads: number;
    /** h2load's concurrent streams per HTTP/2 connection. */
    streams: number;
    seconds: number;
    warmupSeconds: number;
    rounds: number;
  };
  runs: TlsRunResult[];
  ratios: TlsRatio[];
}

export interface TlsOptions {
  seconds: number;
  warmup: number;
  rounds: number;
  threads: number;
  /** Why h2load cannot be used, or undefined when it can; its runs are then skipped. */
  h2loadMissing: string | undefined;
  freePort: () => Promise<number>;
  /** Servers are added while they run, so Ctrl-C can stop them. */
  running: Set<RunningServer>;
}

const WORKERS = 2;
const CONNECTIONS = 32;
const STREAMS = 10;

const firstLine = (error: unknown) => (error instanceof Error ? error.message.split('\n')[0] : String(error));

function load(run: RunSpec, url: string, seconds: number, threads: number): Promise<TlsLoad> {
  if (run.client === 'wrk') return runWrk({ url, seconds, threads, connections: CONNECTIONS, method: 'GET' });
  return runH2load({
    url,
    seconds,
    threads,
    connections: CONNECTIONS,
    streams: STREAMS,
    protocol: run.client === 'h2load' ? 'h2' : 'h1',
  });
}

type Started = Map<ServerId, { server?: RunningServer; url?: string; failed?: string }>;

/** Starts every server into `started` (also those that fail, with why), so whatever started can be stopped. */
async function startServers(started: Started, certificates: Certificates, options: TlsOptions): Promise<void> {
  const hello = scenarios.find((s) => s.name === 'hello') as Scenario;
  for (const spec of SERVERS) {
    const port = await options.freePort();
    const { cert, key, ca } = certificates;
    const scenario: Scenario = {
      ...hello,
      connections: CONNECTIONS,
      ...(spec.protocols ? { tls: { cert, key, ca, protocols: spec.protocols } } : {}),
    };
    try {
      const server = await peers[spec.peer].start({ scenario, workers: WORKERS, port, env: {} });
      options.running.add(server);
      const scheme = spec.protocols ? 'https' : 'http';
      started.set(spec.id, { server, url: `${scheme}://127.0.0.1:${port}${hello.path}` });
    } catch (error) {
      started.set(spec.id, { failed: `${spec.label} failed to start: ${firstLine(error)}` });
    }
  }
}

export async function runTlsBench(options: TlsOptions): Promise<TlsReport> {
  const certificates = await makeCertificates();
  const labels = new Map(SERVERS.map((s) => [s.id, s.label]));
  const runs = new Map<RunId, TlsRunResult>(
    RUNS.map((run) => [
      run.id,
      {
        id: run.id,
        server: labels.get(run.server) as string,
        protocol: run.protocol,
        client: run.client,
        loads: [],
        ...(run.client !== 'wrk' && options.h2loadMissing ? { skipped: options.h2loadMissing } : {}),
      },
    ]),
  );
  const ratios: TlsRatio[] = RATIOS.map((ratio) => ({ ...ratio, pairs: [], ratio: Number.NaN }));
  const started: Started = new Map();
  try {
    await startServers(started, certificates, options);
    const urls = new Map<RunId, string>();
    for (const spec of RUNS) {
      const result = runs.get(spec.id) as TlsRunResult;
      const server = started.get(spec.server);
      if (server?.url) urls.set(spec.id, server.url);
      else result.skipped ??= server?.failed ?? 'no server';
    }
    // One measured run; a run whose client fails is skipped from then on.
    const measure = async (id: RunId, seconds: number) => {
      const result = runs.get(id) as TlsRunResult;
      const url = urls.get(id);
      if (result.skipped || !url) return undefined;
      try {
        return await load(RUNS.find((run) => run.id === id) as RunSpec, url, seconds, options.threads);
      } catch (error) {
        result.skipped = `${result.client} failed: ${firstLine(error)}`;
        return undefined;
      }
    };
    if (options.warmup > 0) for (const { id } of RUNS) await measure(id, options.warmup);
    for (let round = 1; round <= options.rounds; round++) {
      for (const ratio of ratios) {
        // Alternate which of the pair goes first, so neither always gets the warmer slot.
        const [first, second] = round % 2 === 1 ? [ratio.of, ratio.over] : [ratio.over, ratio.of];
        const firstLoad = await measure(first, options.seconds);
        const secondLoad = firstLoad && (await measure(second, options.seconds));
        if (!firstLoad || !secondLoad) continue;
        (runs.get(first) as TlsRunResult).loads.push(firstLoad);
        (runs.get(second) as TlsRunResult).loads.push(secondLoad);
        const [of, over] = first === ratio.of ? [firstLoad, secondLoad] : [secondLoad, firstLoad];
        ratio.pairs.push([of.rps, over.rps]);
        console.log(
          `round ${round}: ${ratio.name}: ${Math.round(of.rps)} / ${Math.round(over.rps)} req/s ` +
            `(failed ${of.errors} / ${over.errors})`,
        );
      }
    }
  } finally {
    for (const { server } of started.values()) {
      if (!server) continue;
      await server.stop().catch(() => {});
      options.running.delete(server);
    }
    rmSync(certificates.dir, { recursive: true, force: true });
  }
  for (const ratio of ratios) {
    ratio.ratio = median(ratio.pairs.map(([of]) => of)) / median(ratio.pairs.map(([, over]) => over));
  }
  return {
    date: timeStamp(),
    command: `pnpm --filter @kelpie/bench bench ${process.argv.slice(2).join(' ')}`.trim(),
    machine: describeMachine(),
    load: {
      workers: WORKERS,
      connections: CONNECTIONS,
      threads: options.threads,
      streams: STREAMS,
      seconds: options.seconds,
      warmupSeconds: options.warmup,
      rounds: options.rounds,
    },
    runs: [...runs.values()],
    ratios,
  };
}

/** The two Markdown tables of a TLS run: req/s per run, and the ratios. */
export function tlsTables(report: TlsReport): string {
  const { load, machine } = report;
  const runs = paddedMarkdownTable(
    ['server', 'protocol', 'client', 'req/s (median)', 'failed'],
    report.runs.map((run) => [
      run.server,
      run.protocol,
      run.client,
      run.loads.length
        ? fmt(median(run.loads.map((r) => r.rps))) + (run.skipped ? ` (then ${run.skipped})` : '')
        : `skipped: ${run.skipped ?? 'not run'}`,
      run.loads.length ? String(run.loads.reduce((sum, r) => sum + r.errors, 0)) : '',
    ]),
  );
  const ratios = paddedMarkdownTable(
    ['ratio', 'req/s, paired runs (medians)', 'ratio (range over rounds)'],
    report.ratios.map(({ name, pairs, ratio }) => {
      if (!pairs.length) return [name, '-', '-'];
      const perRound = pairs.map(([of, over]) => of / over);
      const range = pairs.length > 1 ? ` (${fmt(Math.min(...perRound), 2)}-${fmt(Math.max(...perRound), 2)})` : '';
      const medians = `${fmt(median(pairs.map(([of]) => of)))} / ${fmt(median(pairs.map(([, over]) => over)))}`;
      return [name, medians, `${fmt(ratio, 2)}x${range}`];
    }),
  );
  return [
    `TLS bench ${report.date}: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}; ` +
      `${load.workers} workers per server, ${load.connections} connections, ${load.threads} client threads, ` +
      `h2load -m ${load.streams}; ${load.rounds} round(s) of ${load.seconds} s runs after ${load.warmupSeconds} s warm-up`,
    '',
    runs,
    '',
    ratios,
  ].join('\n');
}
