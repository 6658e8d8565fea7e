import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadOptions {
  url: string;
  connections: number;
  threads: number;
  seconds: number;
  method: 'GET' | 'POST';
  bodyBytes?: number;
  /** Send `Connection: close`: one connection per request. */
  closeConnections?: boolean;
}

export interface LoadResult {
  rps: number;
  requests: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  /** Socket errors plus non-2xx responses. */
  errors: number;
  /** wrk's own words for them: `connect 0, read 3, write 0, timeout 0; non-2xx 0`. */
  errorDetail: string;
  /** CPU time the server's processes spent per request, in microseconds (src/cpu.ts), where measured. */
  cpuUsPerRequest?: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  if (unit === 'us') return n / 1000;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  return n;
}

/** Parse wrk's report (run with --latency). */
export function parseWrk(output: string): LoadResult {
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output);
    return match ? toMs(match[1] as string, match[2] as string) : Number.NaN;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN),
    requests: Number(/(\d+) requests in/.exec(output)?.[1] ?? 0),
    p50: percentile('50'),
    p99: percentile('99'),
    errors: socketErrors + non2xx,
    errorDetail: `${socket ? `connect ${socket[1]}, read ${socket[2]}, write ${socket[3]}, timeout ${socket[4]}` : 'no socket errors'}; non-2xx ${non2xx}`,
  };
}

/** The bench loads loopback addresses only (http or https). */
export function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!/^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(host)) throw new Error(`bench only loads loopback, not ${host}`);
}

/** One bounded wrk run against a loopback URL (https too: wrk does not check the certificate). */
export async function runWrk(options: LoadOptions): Promise<LoadResult> {
  assertLoopback(options.url);
  const args = [
    '-t',
    String(Math.min(options.threads, options.connections)),
    '-c',
    String(options.connections),
    '-d',
    `${options.seconds}s`,
    '--timeout',
    '5s',
    '--latency',
  ];
  if (options.closeConnections) args.push('-H', 'Connection: close');
  let dir: string | undefined;
  if (options.method === 'POST') {
    dir = mkdtempSync(join(tmpdir(), 'kelpie-bench-wrk-'));
    const script = join(dir, 'post.lua');
    writeFileSync(
      script,
      `wrk.method = "POST"\nwrk.body = string.rep("x", ${options.bodyBytes ?? 0})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`,
    );
    args.push('-s', script);
  }
  args.push(options.url);
  try {
    const { stdout } = await run('wrk', args, { timeout: (options.seconds + 30) * 1000 });
    return parseWrk(stdout);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
