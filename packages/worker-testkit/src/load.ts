import { Agent, request as httpRequest } from 'node:http';

/**
 * A bounded load loop for zero-loss tests: `keepAlive` clients reuse connections, `fresh` clients
 * open a new connection per request, all back to back, until `stop()` or until `maxRequests` or
 * `maxMs` is reached. Loopback only: the URL must be 127.0.0.0/8 or [::1].
 */
export interface LoadOptions {
  /** Clients reusing one keep-alive connection each (default 4). */
  keepAlive?: number;
  /** Clients opening a new connection for every request (default 2). */
  fresh?: number;
  /** Stop by itself after this many requests in all (default 100 000). */
  maxRequests?: number;
  /** Stop by itself after this long (default 60 s). */
  maxMs?: number;
  /** Path to request (default `/`). */
  path?: string;
  /** Retry a request once when a reused keep-alive connection closes before any response, as browsers and undici do for idempotent requests (default false: every such close counts as a failure). */
  retryIdempotent?: boolean;
}

export interface LoadStats {
  ok: number;
  failed: number;
  /** Requests retried on a new connection after a reused one closed first (counted once in ok or failed). */
  retried: number;
  /** Status codes and error codes seen, with counts. */
  outcomes: Record<string, number>;
  /** Distinct response bodies seen (up to 50), e.g. to see old and new app code. */
  bodies: Set<string>;
  /** The first few failures, for the assertion message. */
  failures: string[];
}

export interface Load {
  /** Requests done so far. */
  readonly done: number;
  /** Resolves once `count` more requests have completed (or the loop stopped). */
  after(count: number): Promise<void>;
  stop(): Promise<LoadStats>;
}

function assertLoopback(url: URL): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!(host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === 'localhost')) {
    throw new Error(`Load loops only target loopback addresses, not ${url.hostname}`);
  }
}

export function startLoad(base: string, options: LoadOptions = {}): Load {
  const url = new URL(options.path ?? '/', base);
  assertLoopback(url);
  const maxRequests = options.maxRequests ?? 100_000;
  const deadline = Date.now() + (options.maxMs ?? 60_000);
  const retryIdempotent = options.retryIdempotent ?? false;
  const stats: LoadStats = { ok: 0, failed: 0, retried: 0, outcomes: {}, bodies: new Set(), failures: [] };
  let running = true;
  let done = 0;
  const waiters: { at: number; resolve: () => void }[] = [];
  const count = (key: string) => {
    stats.outcomes[key] = (stats.outcomes[key] ?? 0) + 1;
  };
  const finished = () => {
    done++;
    for (const waiter of [...waiters]) {
      if (done >= waiter.at || !running) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  const once = (agent: Agent | false) =>
    new Promise<{ status: number; body: string; reused: boolean }>((resolve, reject) => {
      const req = httpRequest(url, { agent, headers: agent ? {} : { connection: 'close' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: Boolean(req.reusedSocket) }));
        res.on('error', reject);
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        Object.assign(error, { reused: req.reusedSocket });
        reject(error);
      });
      req.end();
    });

  const client = async (agent: Agent | false) => {
    while (running && done < maxRequests && Date.now() < deadline) {
      let outcome: string;
      try {
        let reply: { status: number; body: string };
        try {
          reply = await once(agent);
        } catch (error) {
          // A reused keep-alive connection the server closed as the request went out.
          if (!retryIdempotent || !(error as { reused?: boolean }).reused) throw error;
          stats.retried++;
          reply = await once(agent);
        }
        outcome = String(reply.status);
        if (reply.status >= 200 && reply.status < 400) {
          stats.ok++;
          if (stats.bodies.size < 50) stats.bodies.add(reply.body);
        } else {
          stats.failed++;
          if (stats.failures.length < 10) stats.failures.push(`HTTP ${reply.status}: ${reply.body.slice(0, 200)}`);
        }
      } catch (error) {
        outcome = (error as NodeJS.ErrnoException).code ?? 'error';
        stats.failed++;
        if (stats.failures.length < 10) stats.failures.push(`${outcome}: ${(error as Error).message}`);
      }
      count(outcome);
      finished();
    }
  };

  const agents = Array.from({ length: options.keepAlive ?? 4 }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  const loops = [
    ...agents.map((agent) => client(agent)),
    ...Array.from({ length: options.fresh ?? 2 }, () => client(false)),
  ];
  const all = Promise.all(loops).then(() => {
    running = false;
    for (const waiter of waiters.splice(0)) waiter.resolve();
  });

  return {
    get done() {
      return done;
    },
    after(more: number) {
      return new Promise<void>((resolve) => {
        if (!running) return resolve();
        waiters.push({ at: done + more, resolve });
      });
    },
    async stop() {
      running = false;
      await all;
      for (const agent of agents) agent.destroy();
      return stats;
    },
  };
}
