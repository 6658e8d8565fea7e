import { prepareNextApp } from './next-app.js';
import type { PeerName, Scenario } from './types.js';

const NODE_PEERS: PeerName[] = ['cluster-rr', 'cluster-none', 'pm2'];

/** Hello world, 2 workers, kelpie with `what` turned on against kelpie with its defaults. */
function againstBaseline(
  name: string,
  what: string,
  extra: Partial<Pick<Scenario, 'accessLog' | 'kelpieArgs' | 'closeConnections' | 'workers'>>,
): Scenario {
  return {
    name,
    title: `hello world, kelpie with ${what} vs without`,
    app: 'plain',
    path: '/hello',
    method: 'GET',
    connections: 100,
    peers: ['kelpie-baseline'],
    workers: [2],
    ...extra,
  };
}

/** The unchanged `app.listen()` file, 2 workers, against `peers` and kelpie serving it exported. */
function listenScenario(name: string, peers: PeerName[]): Scenario {
  return {
    name,
    title: 'unchanged Express app.listen() file, hello',
    app: 'express-listen',
    path: '/hello',
    method: 'GET',
    connections: 100,
    peers: ['kelpie-export', ...peers],
    workers: [2],
    env: { NODE_ENV: 'production' },
  };
}

/**
 * Every scenario the bench knows. To add one: an entry here, and the route in each app under
 * apps/ (handlers.mjs, express.mjs, koa.mjs, hono.mjs, wsgi.py) that its peers serve.
 */
export const scenarios: Scenario[] = [
  {
    name: 'hello',
    title: 'hello world (14 B)',
    app: 'plain',
    path: '/hello',
    method: 'GET',
    connections: 100,
    peers: [...NODE_PEERS, 'gunicorn-sync', 'gunicorn-gthread', 'nginx'],
    workers: [1, 2],
  },
  {
    name: 'json',
    title: 'JSON 1 KB',
    app: 'plain',
    path: '/json',
    method: 'GET',
    connections: 100,
    peers: ['cluster-rr', 'cluster-none', 'gunicorn-gthread'],
    workers: [2],
  },
  {
    name: 'echo',
    title: 'POST echo 10 KB',
    app: 'plain',
    path: '/echo',
    method: 'POST',
    bodyBytes: 10 * 1024,
    connections: 100,
    peers: ['cluster-rr', 'cluster-none', 'gunicorn-gthread'],
    workers: [2],
  },
  {
    name: 'slow',
    title: 'slow I/O (10 ms wait, 256 connections)',
    app: 'plain',
    path: '/slow',
    method: 'GET',
    connections: 256,
    peers: ['cluster-rr', 'cluster-none', 'gunicorn-gthread'],
    workers: [2],
  },
  {
    name: 'cpu',
    title: 'CPU-bound (5 ms of hashing)',
    app: 'plain',
    path: '/cpu',
    method: 'GET',
    connections: 16,
    peers: ['cluster-rr', 'cluster-none', 'gunicorn-gthread'],
    workers: [2],
  },
  {
    name: 'express',
    title: 'Express app, JSON route',
    app: 'express',
    path: '/json',
    method: 'GET',
    connections: 100,
    peers: NODE_PEERS,
    workers: [2],
  },
  {
    name: 'koa',
    title: 'Koa app, JSON route',
    app: 'koa',
    path: '/json',
    method: 'GET',
    connections: 100,
    peers: NODE_PEERS,
    workers: [2],
  },
  {
    name: 'fastify',
    title: 'Fastify app, JSON route',
    app: 'fastify',
    path: '/json',
    method: 'GET',
    connections: 100,
    peers: ['cluster-rr', 'cluster-none'],
    workers: [2],
  },
  {
    name: 'hono',
    title: 'Hono fetch app, JSON route',
    app: 'hono',
    path: '/json',
    method: 'GET',
    connections: 100,
    peers: ['hono-cluster-rr', 'hono-cluster-none'],
    workers: [2],
  },
  // The same unchanged file under every side: apps/listen/server.js, an Express app that ends in
  // app.listen(process.env.PORT || 3000). kelpie serves the server it listens on; PM2 and
  // node:cluster run it in cluster workers; Watt rewrites its listen. kelpie-export is kelpie
  // serving the same app exported, the reference for what serving the app's own server costs.
  // NODE_ENV=production on every side, as kelpie sets it when unset and `wattpm start` runs.
  listenScenario('listen-express', [...NODE_PEERS]),
  // Watt needs Node >= 22.19: every side of this one runs on Node 26 from the npm registry.
  { ...listenScenario('listen-express-26', [...NODE_PEERS, 'watt']), node: 26 },
  // A real page: Next.js's standalone server.js (apps/next, built on demand), unchanged under
  // kelpie -w 2, beside `next start`, PM2 -i 2 running the same server.js and Watt's Next.js
  // capability; /catalog renders 50 products on the server for every request. Node 26 for Watt.
  {
    name: 'next-page',
    title: 'Next.js page rendered per request (standalone server.js)',
    app: 'next-standalone',
    path: '/catalog',
    method: 'GET',
    // A render takes milliseconds, not microseconds: 32 connections keep 2 workers busy without
    // turning p99 into a queue length.
    connections: 32,
    peers: ['next-start', 'pm2', 'watt-next'],
    workers: [2],
    node: 26,
    env: { NODE_ENV: 'production', HOSTNAME: '127.0.0.1', NEXT_TELEMETRY_DISABLED: '1' },
    prepare: prepareNextApp,
  },
  // WebSocket echo round trips (src/ws-load.ts), -k ws against a raw ws server in node:cluster.
  {
    name: 'ws-echo',
    title: 'WebSocket echo, 64 B messages (messages/s), -k ws',
    app: 'ws',
    path: '/',
    method: 'GET',
    connections: 100,
    peers: ['ws-cluster'],
    workers: [2],
    kelpieArgs: ['-k', 'ws'],
    load: 'ws-echo',
  },
  // The sync worker class against Gunicorn's: one request at a time per process, no keep-alive.
  {
    name: 'sync-hello',
    title: 'hello world, -k sync',
    app: 'plain',
    path: '/hello',
    method: 'GET',
    connections: 32,
    peers: ['gunicorn-sync'],
    workers: [2],
    kelpieArgs: ['-k', 'sync'],
  },
  {
    name: 'sync-slow',
    title: 'slow I/O (10 ms wait), -k sync',
    app: 'plain',
    path: '/slow',
    method: 'GET',
    connections: 32,
    peers: ['gunicorn-sync'],
    workers: [2],
    kelpieArgs: ['-k', 'sync'],
  },
  {
    name: 'sync-cpu',
    title: 'CPU-bound (5 ms), -k sync',
    app: 'plain',
    path: '/cpu',
    method: 'GET',
    connections: 16,
    peers: ['gunicorn-sync'],
    workers: [2],
    kelpieArgs: ['-k', 'sync'],
  },
  // The threads worker class against Gunicorn's gthread, both with 4 threads per process.
  {
    name: 'threads-hello',
    title: 'hello world, -k threads --threads 4',
    app: 'plain',
    path: '/hello',
    method: 'GET',
    connections: 100,
    peers: ['gunicorn-gthread'],
    workers: [2],
    kelpieArgs: ['-k', 'threads', '--threads', '4'],
  },
  {
    name: 'threads-slow',
    title: 'slow I/O (10 ms wait, 256 connections), -k threads --threads 4',
    app: 'plain',
    path: '/slow',
    method: 'GET',
    connections: 256,
    peers: ['gunicorn-gthread'],
    workers: [2],
    kelpieArgs: ['-k', 'threads', '--threads', '4'],
  },
  {
    name: 'threads-cpu',
    title: 'CPU-bound (5 ms), -k threads --threads 4',
    app: 'plain',
    path: '/cpu',
    method: 'GET',
    connections: 16,
    peers: ['gunicorn-gthread'],
    workers: [2],
    kelpieArgs: ['-k', 'threads', '--threads', '4'],
  },
  // What the access log and metrics cost: hello world with the feature against kelpie's defaults;
  // the ratio is the share of throughput kept (access log target >= 0.9x). StatsD is sent over
  // UDP to a port nothing listens on.
  againstBaseline('hello-access-log', '--access-logfile', { accessLog: true }),
  againstBaseline('hello-metrics', '--metrics-bind', { kelpieArgs: ['--metrics-bind', '127.0.0.1:0'] }),
  againstBaseline('hello-statsd', '--metrics-bind and --statsd-host', {
    kelpieArgs: ['--metrics-bind', '127.0.0.1:0', '--statsd-host', '127.0.0.1:9'],
  }),
  // What --sticky costs: every connection passes through the arbiter (accept, choose, IPC hand-off).
  // All of wrk's connections come from 127.0.0.1, so under --sticky they all go to one worker:
  // -w 1 measures the hand-off alone, -w 2 what one client address gets of two workers. The
  // second scenario opens a connection per request, where the cost is paid on every request.
  againstBaseline('hello-sticky', '--sticky', { kelpieArgs: ['--sticky'], workers: [1, 2] }),
  againstBaseline('hello-sticky-close', '--sticky, a connection per request,', {
    kelpieArgs: ['--sticky'],
    workers: [1, 2],
    closeConnections: true,
  }),
  // Thread scaling: one process, 2 threads against 1 thread, on CPU-bound work (target 1.7x).
  {
    name: 'threads-scaling',
    title: 'CPU-bound (5 ms), one process: --threads 2 vs --threads 1',
    app: 'plain',
    path: '/cpu',
    method: 'GET',
    connections: 16,
    peers: ['kelpie-threads-1'],
    workers: [1],
    kelpieArgs: ['-k', 'threads', '--threads', '2'],
  },
];

const scenario = (name: string) => scenarios.find((s) => s.name === name) as Scenario;

// Hello, JSON and Express with Platformatic Watt beside node:cluster and PM2, every side on Node 26
// from the npm registry (Watt needs Node >= 22.19); Watt serves the same handlers and Express app
// through apps/watt-server.mjs, which listens by itself. 2 workers each.
for (const name of ['hello', 'json', 'express']) {
  scenarios.push({ ...scenario(name), name: `${name}-26`, peers: [...NODE_PEERS, 'watt'], workers: [2], node: 26 });
}

/** The --quick smoke run: few scenarios, few sides, one round. */
export const quickScenarios: Scenario[] = [
  { ...scenario('hello'), peers: ['cluster-rr', 'cluster-none'], workers: [2] },
  // A few seconds more, and the access log's path runs end to end in CI.
  scenario('hello-access-log'),
];
