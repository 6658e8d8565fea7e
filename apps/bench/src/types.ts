/**
 * The shapes the bench is built from. A scenario says what load to send and which sides to
 * compare; a peer knows how to start one kind of server for a scenario. Adding a scenario is one
 * entry in scenarios.ts; adding a peer is one file in peers/ and one line in peers/index.ts.
 */

/**
 * `express-listen` is apps/listen/server.js: an Express app that calls its own `app.listen()`,
 * run unchanged by every side (kelpie serves the server it listens on; the peers let it bind).
 * `next-standalone` is apps/next's `.next/standalone/server.js`, Next.js's own production server.
 */
export type AppKind = 'plain' | 'express' | 'koa' | 'hono' | 'ws' | 'fastify' | 'express-listen' | 'next-standalone';

export type PeerName =
  | 'kelpie'
  | 'kelpie-threads-1'
  | 'kelpie-baseline'
  | 'kelpie-export'
  | 'cluster-rr'
  | 'cluster-none'
  | 'pm2'
  | 'gunicorn-sync'
  | 'gunicorn-gthread'
  | 'nginx'
  | 'hono-cluster-rr'
  | 'hono-cluster-none'
  | 'ws-cluster'
  | 'watt'
  | 'next-start'
  | 'watt-next';

export interface Scenario {
  /** Short id used on the command line and in results: `hello`. */
  name: string;
  /** One line for tables and the chart. */
  title: string;
  /** Which app the servers run: the plain Node handler set, or a framework app. */
  app: AppKind;
  /** Request path every side serves for this scenario (`/hello`, `/json`, …). */
  path: string;
  method: 'GET' | 'POST';
  /** Size of the POST body wrk sends, in bytes. */
  bodyBytes?: number;
  /** wrk connections. */
  connections: number;
  /** Sides compared with kelpie, in display order; kelpie is always measured. */
  peers: PeerName[];
  /** Worker counts to run it at. */
  workers: number[];
  /**
   * wrk sends `Connection: close`: a new connection for every request, for costs paid per
   * connection (--sticky's hand-off through the arbiter). Default: keep-alive.
   */
  closeConnections?: boolean;
  /** The load: wrk's HTTP requests (default), or WebSocket echo round trips (src/ws-load.ts). */
  load?: 'http' | 'ws-echo';
  /** Extra flags for the kelpie side: the worker class under test (`-k sync`). Default: `-k async`. */
  kelpieArgs?: string[];
  /** The kelpie side writes an access log (`--access-logfile` to a temporary file, removed at stop). */
  accessLog?: boolean;
  /** Serve over TLS (the TLS bench); the sides that cannot refuse to start. Default: plain HTTP. */
  tls?: ScenarioTls;
  /**
   * Run every side on this Node major from the npm registry's `node` package (installed into the
   * bench's cache folder), instead of the Node running the bench. Default: the bench's own Node.
   */
  node?: number;
  /** Environment for every side's server processes, on top of the bench's own. */
  env?: Record<string, string>;
  /** Makes the scenario's app ready (builds it) before its sides start; resolves with a reason to skip it. */
  prepare?: () => Promise<string | undefined>;
}

export interface ScenarioTls {
  /** PEM files: the server's certificate (valid for 127.0.0.1) and key, and the CA that signed it. */
  cert: string;
  key: string;
  ca: string;
  /** What the server offers over ALPN: HTTP/1.1 only, or HTTP/2 with HTTP/1.1 for clients without it. */
  protocols: 'h1' | 'h2,h1';
}

export interface StartOptions {
  scenario: Scenario;
  workers: number;
  /** Loopback port to listen on (127.0.0.1). */
  port: number;
  /** Extra environment for the server processes (e.g. BENCH_CPU_ITERATIONS). */
  env: Record<string, string>;
  /** The Node to run the server with (the scenario's `node`). Default: the one running the bench. */
  node?: NodeRuntime;
}

export interface NodeRuntime {
  /** Path of the executable. */
  path: string;
  /** Its `process.version`: `v26.10.0`. */
  version: string;
}

export interface RunningServer {
  /** The top process the peer started (arbiter, cluster primary, pm2 daemon, gunicorn master, nginx master). */
  readonly pid: number;
  /** Every process that serves or manages it right now (for RSS). */
  pids(): number[];
  /** Stop it and everything it started; resolves when they are gone. */
  stop(): Promise<void>;
  /** What its top process wrote so far (servers the bench spawns itself). */
  output?(): string;
  /** Its own zero-downtime reload, where it has one (`pm2 reload`). */
  reload?(): Promise<void>;
}

export interface Peer {
  name: PeerName;
  /** How it reads in tables: `node:cluster (RR)`. */
  label: string;
  /** Make the peer usable (may install a Debian package). Resolves with a reason to skip it, or undefined. */
  prepare(): Promise<string | undefined>;
  /** Start it for a scenario; resolves once it answers 200 on the scenario's path. */
  start(options: StartOptions): Promise<RunningServer>;
}
