import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { type Adapter, type AdapterContext, frameworkOf, settleForwardedFor } from '@kelpie/core';
import pkg from '../package.json' with { type: 'json' };

/**
 * Serves Fastify 5 instances (`--adapter fastify`, or chosen automatically):
 *
 * - `ready()` is awaited before the worker serves (plugins loaded, routes compiled), and
 *   `close()` runs on a graceful stop, after the worker has drained, so onClose hooks run;
 * - requests reach Fastify's router (`routing`) from kelpie's own server; upgrade requests are
 *   emitted on `fastify.server` when a plugin listens there once the instance is ready
 *   (@fastify/websocket), so WebSocket routes work under `-k ws`;
 * - errors are logged in kelpie's log (an onError hook; Fastify still answers them);
 * - forwarded headers: Fastify fixes `trustProxy` when the instance is created, so create it
 *   with `trustProxy: true` and kelpie does the trusting: headers from peers outside
 *   `--forwarded-allow-ips` are removed, and X-Forwarded-For is reduced to the client the
 *   trusted proxies vouch for. Without it Fastify ignores them, and the adapter says so once.
 */

interface FastifyInstance {
  ready(): PromiseLike<unknown>;
  close(): PromiseLike<unknown>;
  routing(req: IncomingMessage, res: ServerResponse): void;
  server: Server;
  addHook(
    name: 'onError',
    hook: (request: { method: string; url: string }, reply: unknown, error: Error, done: () => void) => void,
  ): unknown;
  initialConfig?: { trustProxy?: unknown };
}

/**
 * The instance's trustProxy option: Fastify 4 shows it in `initialConfig`, Fastify 5 keeps it only
 * among the options it was created with (its `fastify.options` symbol).
 */
function trustProxyOf(app: FastifyInstance): unknown {
  if (app.initialConfig?.trustProxy !== undefined) return app.initialConfig.trustProxy;
  const options = Object.getOwnPropertySymbols(app).find((symbol) => symbol.description === 'fastify.options');
  return options
    ? (app as unknown as Record<symbol, { trustProxy?: unknown } | undefined>)[options]?.trustProxy
    : undefined;
}

export const fastifyAdapter: Adapter = {
  meta: { name: 'fastify', version: pkg.version, core: '^0.1.0' },
  matches: (value) => frameworkOf(value) === 'fastify',
  adapt(value: unknown, { log, trusted }: AdapterContext) {
    const app = value as FastifyInstance;
    if (!trustProxyOf(app)) {
      log.info(
        'This Fastify instance was created without trustProxy: X-Forwarded-* headers are ignored. Create it with trustProxy: true to have kelpie trust --forwarded-allow-ips.',
      );
    }
    app.addHook('onError', (request, _reply, error, done) => {
      const status = Number((error as { statusCode?: unknown }).statusCode ?? 500);
      if (status >= 500) log.error(`Error handling request ${request.method} ${request.url}`, error);
      done();
    });
    return {
      listener: (req, res) => {
        settleForwardedFor(req, trusted);
        app.routing(req, res);
      },
      upgradeListener: () =>
        app.server.listenerCount('upgrade') > 0
          ? (req, socket, head) => {
              settleForwardedFor(req, trusted);
              app.server.emit('upgrade', req, socket, head);
            }
          : undefined,
      startup: async () => {
        await app.ready();
      },
      shutdown: async () => {
        await app.close();
      },
    };
  },
};

export default fastifyAdapter;
