import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Adapter, type AdapterContext, frameworkOf, settleForwardedFor } from '@kelpie/core';
import pkg from '../package.json' with { type: 'json' };

/**
 * Serves Koa 2 and 3 apps (`--adapter koa`, or chosen automatically):
 *
 * - `app.proxy` is turned on, and X-Forwarded-For is reduced to the client that the proxies in
 *   `--forwarded-allow-ips` vouch for (core has already removed forwarded headers sent by any
 *   other peer), so `ctx.ip`, `ctx.protocol` and `ctx.host` follow trusted proxies only;
 * - errors Koa catches (it answers them itself) are logged in kelpie's log, 5xx as errors;
 *   with a listener in place Koa no longer prints them to stderr.
 */

interface KoaApp {
  callback(): (req: IncomingMessage, res: ServerResponse) => unknown;
  proxy: boolean;
  on(event: 'error', listener: (error: unknown, ctx?: { method?: string; url?: string }) => void): unknown;
}

export const koaAdapter: Adapter = {
  meta: { name: 'koa', version: pkg.version, core: '^0.1.0' },
  matches: (value) => frameworkOf(value) === 'koa',
  adapt(value: unknown, { log, trusted }: AdapterContext) {
    const app = value as KoaApp;
    app.proxy = true;
    app.on('error', (error, ctx) => {
      const status = Number((error as { status?: unknown } | null)?.status ?? 500);
      if (status < 500) return;
      log.error(`Error handling request ${ctx?.method ?? '-'} ${ctx?.url ?? '-'}`, error);
    });
    const handle = app.callback();
    return {
      listener: (req, res) => {
        settleForwardedFor(req, trusted);
        return handle(req, res);
      },
    };
  },
};

export default koaAdapter;
