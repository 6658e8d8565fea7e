import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

// One request on a fresh connection: the worker testkit's client, shared with the conformance suite.
import { get } from '@kelpie/testkit';

export type { Reply } from '@kelpie/testkit';
export { get };

/** Distinct worker pids seen over `count` concurrent fresh-connection requests. */
export async function pidsSeen(url: string, count = 40, path = '/sleep?ms=20'): Promise<Set<string>> {
  const replies = await Promise.all(Array.from({ length: count }, () => get(url + path)));
  return new Set(replies.map((r) => String(r.headers['x-pid'])));
}

/** What test/fixtures/concurrency-app.js reports about the handler call that answered. */
export interface Facts {
  pid: number;
  thread: number;
  active: number;
  highest: number;
  started: number;
  ended: number;
}

/** GET a concurrency-app URL on a fresh connection: its facts, the status, `Connection`, and the time taken. */
export async function facts(url: string): Promise<Facts & { status: number; connection: unknown; at: number }> {
  const t0 = Date.now();
  const reply = await get(url);
  return {
    ...(JSON.parse(reply.body) as Facts),
    status: reply.status,
    connection: reply.headers.connection,
    at: Date.now() - t0,
  };
}

/** Resolves once the response headers arrive (the handler is running), with the body still to come. */
export function started(url: string): Promise<{ status: number; body: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.setEncoding('utf8');
      const body = new Promise<string>((done, fail) => {
        let text = '';
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => done(text));
        res.on('error', fail);
      });
      resolve({ status: res.statusCode ?? 0, body });
    });
    req.on('error', reject);
    req.end();
  });
}
