/**
 * h2load, nghttp2's load generator, for the TLS bench's HTTP/2 runs: wrk speaks only HTTP/1.1.
 * Timing-based like wrk (-D), keep-alive connections, and a hard deadline on the process.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { assertLoopback } from './wrk.js';

const run = promisify(execFile);

export interface H2loadOptions {
  /** An https URL on loopback. */
  url: string;
  connections: number;
  /** Concurrent streams per connection (-m); for HTTP/1.1 this would be pipelining, so it is 1 there. */
  streams: number;
  threads: number;
  seconds: number;
  /** What to offer over ALPN: h2 (the default), or HTTP/1.1 alone (--h1). */
  protocol?: 'h2' | 'h1';
}

export interface H2loadResult {
  /** Over the measured seconds, as h2load reports it. */
  rps: number;
  /** Requests that succeeded (2xx or 3xx). */
  requests: number;
  /** h2load's failed requests: non-2xx/3xx answers, reset streams, timeouts. */
  errors: number;
  /** h2load's own words for them: `failed 0 (errored 0, timeout 0)`. */
  errorDetail: string;
  /** The protocol ALPN settled on: `h2` or `http/1.1`. */
  protocol: string;
}

/** Parse h2load's report: the `finished in` and `requests:` lines, and the negotiated protocol. */
export function parseH2load(output: string): H2loadResult {
  const finished = /^finished in [\d.]+m?s, ([\d.]+) req\/s/m.exec(output);
  const requests =
    /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(
      output,
    );
  if (!finished || !requests) {
    throw new Error(`h2load printed no summary:\n${output.trim().split('\n').slice(-10).join('\n')}`);
  }
  const [failed, errored, timeout] = requests.slice(5).map(Number) as [number, number, number];
  return {
    rps: Number(finished[1]),
    requests: Number(requests[4]),
    errors: failed,
    errorDetail: `failed ${failed} (errored ${errored}, timeout ${timeout})`,
    protocol: /^Application protocol: (\S+)/m.exec(output)?.[1] ?? 'none',
  };
}

/** One bounded h2load run; throws if ALPN did not settle on the protocol asked for. */
export async function runH2load(options: H2loadOptions): Promise<H2loadResult> {
  assertLoopback(options.url);
  const protocol = options.protocol ?? 'h2';
  const args = [
    ...(protocol === 'h1' ? ['--h1'] : []),
    '-t',
    String(Math.min(options.threads, options.connections)),
    '-c',
    String(options.connections),
    '-m',
    String(protocol === 'h1' ? 1 : options.streams),
    '-D',
    String(options.seconds),
    // Like wrk's --timeout 5s: a connection silent for 5 s is given up and its requests count as failed.
    '-N',
    '5s',
    options.url,
  ];
  const { stdout } = await run('h2load', args, { timeout: (options.seconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 });
  const result = parseH2load(stdout);
  const expected = protocol === 'h2' ? 'h2' : 'http/1.1';
  if (result.protocol !== expected) {
    throw new Error(`h2load negotiated ${result.protocol}, not ${expected}, with ${options.url}`);
  }
  return result;
}
