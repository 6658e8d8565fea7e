// Serves one bench app on 127.0.0.1:PORT in the current process, the way each framework is
// usually run on Node: node:http for request listeners (plain, Express, Koa's callback()),
// @hono/node-server for Hono, and a `ws` server on node:http for the WebSocket echo. Each node:cluster worker and each PM2 instance calls this.
// With TLS (the TLS bench), request listeners are served by https.createServer, or for HTTP/2 by
// http2.createSecureServer with HTTP/1.1 for clients that do not offer h2, as `kelpie
// --http-protocols h2,h1` does.
import { readFileSync } from 'node:fs';

/** Apps are imported on demand so a worker only loads the framework it serves. */
async function requestListener(kind) {
  switch (kind) {
    case 'plain':
      return (await import('./handlers.mjs')).default;
    case 'express':
      return (await import('./express.mjs')).default;
    case 'koa':
      return (await import('./koa.mjs')).default.callback();
    default:
      throw new Error(`unknown app kind "${kind}" (plain, express, koa, hono, ws or fastify)`);
  }
}

/** A server for a request listener: node:http, or https / http2 when `tls` is given. */
async function createServer(listener, tls) {
  if (!tls) return (await import('node:http')).createServer(listener);
  const options = { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
  if (tls.protocols === 'h2,h1') {
    return (await import('node:http2')).createSecureServer({ ...options, allowHTTP1: true }, listener);
  }
  return (await import('node:https')).createServer(options, listener);
}

/** Resolves with the listening server; `tls` ({ cert, key, protocols }) only for request listeners. */
export async function serveApp(kind, port, tls) {
  if (tls && !['plain', 'express', 'koa'].includes(kind)) throw new Error(`no TLS for the ${kind} app here`);
  if (kind === 'ws') return serveWebSocketEcho(port);
  if (kind === 'fastify') {
    const { default: app } = await import('./fastify.mjs');
    await app.listen({ port, host: '127.0.0.1' });
    return app.server;
  }
  if (kind === 'hono') {
    const [{ serve }, { default: app }] = await Promise.all([import('@hono/node-server'), import('./hono.mjs')]);
    return new Promise((resolve, reject) => {
      const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(server));
      server.once('error', reject);
    });
  }
  const server = await createServer(await requestListener(kind), tls);
  // The cost curves hold idle connections for longer than Node's default 5 s (kelpie's --keep-alive).
  if (process.env.BENCH_KEEP_ALIVE_MS) server.keepAliveTimeout = Number(process.env.BENCH_KEEP_ALIVE_MS);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * The app kind, port and TLS setup from the environment the peer sets (BENCH_APP, PORT, and for
 * TLS BENCH_TLS_CERT, BENCH_TLS_KEY and BENCH_HTTP_PROTOCOLS: h1 or h2,h1).
 */
export function appFromEnv() {
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`PORT must be a port number, got ${process.env.PORT}`);
  const { BENCH_TLS_CERT: cert, BENCH_TLS_KEY: key, BENCH_HTTP_PROTOCOLS: protocols = 'h1' } = process.env;
  if (!['h1', 'h2,h1'].includes(protocols))
    throw new Error(`BENCH_HTTP_PROTOCOLS must be h1 or h2,h1, got ${protocols}`);
  if (Boolean(cert) !== Boolean(key)) throw new Error('BENCH_TLS_CERT and BENCH_TLS_KEY go together');
  return { kind: process.env.BENCH_APP ?? 'plain', port, tls: cert && key ? { cert, key, protocols } : undefined };
}

/** A raw `ws` echo server, as one would write it without kelpie (the same options as -k ws). */
async function serveWebSocketEcho(port) {
  const [{ createServer }, { WebSocketServer }] = await Promise.all([import('node:http'), import('ws')]);
  const server = createServer((_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server, maxPayload: 16 * 1024 * 1024, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
