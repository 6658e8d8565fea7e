import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestListener } from '../app/app.js';
import type { Logger } from '../observability/logger.js';

/**
 * The app's errors: a request listener that throws or rejects gets its response turned into a
 * 500 (or its connection closed, when the response has started) and an error log line.
 */

/** Call the app's listener; a throw or a rejected promise becomes a 500 and an error log line. */
export function guardListener(listener: RequestListener, log: Logger): RequestListener {
  const fail = (error: unknown, req: IncomingMessage, res: ServerResponse): void => {
    log.error(`Error handling request ${req.method} ${req.url}`, error);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.shouldKeepAlive = false;
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Internal Server Error\n');
  };
  return (req, res) => {
    try {
      const result = listener(req, res) as PromiseLike<unknown> | undefined;
      if (result && typeof result.then === 'function') result.then(undefined, (error) => fail(error, req, res));
    } catch (error) {
      fail(error, req, res);
    }
  };
}
