// Serves one bench app on 127.0.0.1:PORT in the current process, the way each framework is
// usually run on Node: node:http for request listeners (plain, Express, Koa's callback()),
// @hono/node-server for Hono, and a `ws` server on node:http for the WebSocket echo. Each node:cluster worker and each PM2 instance calls this.

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

/** Resolves with the listening server. */
export async function serveApp(kind, port) {
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
  const { createServer } = await import('node:http');
  const server = createServer(await requestListener(kind));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** The app kind and port from the environment the peer sets (BENCH_APP, PORT). */
export function appFromEnv() {
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`PORT must be a port number, got ${process.env.PORT}`);
  return { kind: process.env.BENCH_APP ?? 'plain', port };
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
