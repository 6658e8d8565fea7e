/**
 * The node:cluster references: apps/cluster-server.mjs forks N workers that serve the scenario's
 * app with node:http (plain, Express, Koa), or with @hono/node-server for the Hono app, under
 * round-robin or OS (`none`) scheduling, or a raw `ws` echo server for the WebSocket scenario. The primary prints `ready:` once every worker listens.
 * For a TLS scenario the node:http apps are served by https.createServer, or for h2,h1 by
 * http2.createSecureServer with allowHTTP1 (apps/serve-app.mjs). An app that calls its own listen()
 * is each worker's main module instead, unchanged (BENCH_APP_MAIN), with the loopback preload.
 */
import { join } from 'node:path';
import type { AppKind, Peer, PeerName } from '../types.js';
import { benchNode } from './node-runtime.js';
import { appFile, appsDir, LISTENING_APPS, loopbackPreload } from './paths.js';
import { startServer } from './spawn.js';
import { assertSupports } from './supports.js';

const READY_LINE = /^ready:/m;

function clusterPeer(name: PeerName, label: string, policy: 'rr' | 'none', apps: AppKind[], tls: AppKind[] = []): Peer {
  return {
    name,
    label,
    prepare: async () => undefined,
    start: async ({ scenario, workers, port, env, node = benchNode }) => {
      assertSupports(name, scenario, { apps, tls });
      const { tls: certificate } = scenario;
      return startServer({
        name,
        command: node.path,
        args: [join(appsDir, 'cluster-server.mjs')],
        env: {
          ...env,
          PORT: String(port),
          WORKERS: String(workers),
          BENCH_APP: scenario.app,
          NODE_CLUSTER_SCHED_POLICY: policy,
          ...(LISTENING_APPS.includes(scenario.app)
            ? { BENCH_APP_MAIN: appFile(scenario.app), BENCH_PRELOAD: loopbackPreload }
            : {}),
          ...(certificate
            ? {
                BENCH_TLS_CERT: certificate.cert,
                BENCH_TLS_KEY: certificate.key,
                BENCH_HTTP_PROTOCOLS: certificate.protocols,
              }
            : {}),
        },
        port,
        scenario,
        until: (server) => READY_LINE.test(server.output()),
      });
    },
  };
}

const NODE_APPS: AppKind[] = ['plain', 'express', 'koa', 'fastify', ...LISTENING_APPS];
/** The apps served by a node:http request listener, which serve-app.mjs can put behind TLS. */
const TLS_APPS: AppKind[] = ['plain', 'express', 'koa'];

export const clusterRr = clusterPeer('cluster-rr', 'node:cluster (RR)', 'rr', NODE_APPS, TLS_APPS);
export const clusterNone = clusterPeer('cluster-none', 'node:cluster (none)', 'none', NODE_APPS, TLS_APPS);
export const honoClusterRr = clusterPeer('hono-cluster-rr', '@hono/node-server + node:cluster (RR)', 'rr', ['hono']);
export const honoClusterNone = clusterPeer('hono-cluster-none', '@hono/node-server + node:cluster (none)', 'none', [
  'hono',
]);
export const wsCluster = clusterPeer('ws-cluster', 'ws server in node:cluster (RR)', 'rr', ['ws']);
