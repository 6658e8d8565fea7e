import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on a fresh connection (no keep-alive pooling), so consecutive calls can reach different workers. */
export function get(
  url: string,
  options: { socketPath?: string; method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        agent: false,
        method: options.method ?? 'GET',
        socketPath: options.socketPath,
        headers: { connection: 'close', ...options.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Distinct worker pids seen over `count` concurrent fresh-connection requests. */
export async function pidsSeen(url: string, count = 40, path = '/sleep?ms=20'): Promise<Set<string>> {
  const replies = await Promise.all(Array.from({ length: count }, () => get(url + path)));
  return new Set(replies.map((r) => String(r.headers['x-pid'])));
}
