import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Adapter, type AdapterContext, frameworkOf, type Logger } from '@kelpie/core';
import pkg from '../package.json' with { type: 'json' };

/**
 * Serves Express 4 and 5 apps (`--adapter express`, or chosen automatically):
 *
 * - Express's `trust proxy` becomes a function of `--forwarded-allow-ips`, so `req.ip`,
 *   `req.ips`, `req.protocol` and `req.hostname` follow trusted proxies only;
 * - a last error handler logs every error that reaches it in kelpie's log and answers 500
 *   (or the error's 4xx status) instead of Express's default, which prints to stderr;
 * - on Express 4, a handler's rejected promise is passed to `next(error)`, as Express 5 does,
 *   instead of becoming an unhandled rejection that would stop the worker.
 */

type Handler = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => unknown;

interface ExpressApp {
  (req: IncomingMessage, res: ServerResponse): void;
  set(setting: string, value: unknown): unknown;
  use(handler: (...args: never[]) => unknown): unknown;
  handle: unknown;
  settings: Record<string, unknown>;
  /** Express 4's router (Express 5 has `router`). */
  _router?: { stack?: object[] };
}

interface Layer {
  handle: Handler;
  handle_request: Handler;
}

const PATCHED = Symbol.for('kelpie.adapter-express.patched');

/**
 * Express 4 calls handlers without looking at what they return. Its Layer prototype (reached
 * through the app's own router, so it is the app's copy of Express) is given the Express 5
 * behaviour: a returned promise that rejects goes to `next(error)`.
 */
function catchRejections(app: ExpressApp): void {
  const first = app._router?.stack?.[0];
  if (!first) return;
  const proto = Object.getPrototypeOf(first) as Layer & { [PATCHED]?: true };
  if (proto[PATCHED] || typeof proto.handle_request !== 'function') return;
  proto[PATCHED] = true;
  proto.handle_request = function handleRequest(this: Layer, req, res, next) {
    const fn = this.handle;
    // Error-handling middleware (4 parameters) is not for requests without an error.
    if (fn.length > 3) return next();
    try {
      const result = fn(req, res, next) as PromiseLike<unknown> | undefined;
      if (result && typeof result.then === 'function') {
        result.then(undefined, (error: unknown) => next(error ?? new Error('Rejected without a reason')));
      }
    } catch (error) {
      next(error);
    }
  };
}

function errorHandler(log: Logger) {
  return (error: unknown, req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, _next: unknown) => {
    const candidate = (error as { status?: unknown; statusCode?: unknown } | null) ?? {};
    const given = Number(candidate.status ?? candidate.statusCode);
    const status = given >= 400 && given < 600 ? given : 500;
    if (status >= 500) log.error(`Error handling request ${req.method} ${req.originalUrl ?? req.url}`, error);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = status >= 500 ? 'Internal Server Error\n' : `${(error as Error)?.message ?? 'Bad Request'}\n`;
    res.statusCode = status;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
  };
}

export const expressAdapter: Adapter = {
  meta: { name: 'express', version: pkg.version, core: '^0.1.0' },
  matches: (value) => frameworkOf(value) === 'express',
  adapt(value: unknown, { log, trusted }: AdapterContext) {
    const app = value as ExpressApp;
    // Called for each hop from the socket's peer inwards: the chain is followed while trusted.
    // The peer of a unix socket has no address (hop 0, undefined): trusted, as core trusts it
    // (forwarded headers of untrusted peers were already removed before Express sees them).
    app.set('trust proxy', (address: string | undefined, hop: number) =>
      address === undefined ? hop === 0 : trusted(address),
    );
    catchRejections(app);
    app.use(errorHandler(log) as never);
    return { listener: (req, res) => app(req, res) };
  },
};

export default expressAdapter;
