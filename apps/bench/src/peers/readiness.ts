/**
 * Waiting until a freshly started server answers 200, bounded in time and failing early, with the
 * server's output, if it dies first.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import type { Scenario } from '../types.js';

const READY_TIMEOUT_MS = 20_000;
const PROBE_TIMEOUT_MS = 1_000;
const POLL_MS = 100;
/** How much of the server's output a failure message carries. */
const OUTPUT_TAIL = 4_000;
const PROBE_BODY = 'ready?';

export interface WaitOptions {
  /** Who is starting, for messages: `gunicorn-sync`. Default: the URL's host. */
  name?: string;
  method?: 'GET' | 'POST';
  /** Default 20 s. */
  timeoutMs?: number;
  /**
   * A further condition after the first 200, for when one answering worker is not all of them:
   * the ready line printed, every worker forked.
   */
  until?: () => boolean;
  /** Why the server can no longer come up (it exited), or undefined while it may. */
  failed?: () => string | undefined;
  /** What the server printed, for failure messages. */
  output?: () => string;
  /** For an https URL: the CA (PEM) that signed the server's certificate. */
  ca?: Buffer;
}

type ProbeResult = { status: number } | { error: string };

/**
 * One request on a fresh connection (no agent), so no keep-alive socket outlives the probe. Over
 * https it is HTTP/1.1, which every TLS side also serves (h2,h1 falls back to it).
 */
function probe(url: string, method: 'GET' | 'POST', ca: Buffer | undefined): Promise<ProbeResult> {
  // Only loopback servers are probed; POST carries a small body, as /echo expects one.
  const body = method === 'POST' ? PROBE_BODY : undefined;
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method,
        agent: false,
        timeout: PROBE_TIMEOUT_MS,
        ...(ca ? { ca } : {}),
        headers: body === undefined ? {} : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', (error) => resolve({ error: error.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(body);
  });
}

function withOutput(message: string, output: string | undefined): string {
  if (output === undefined) return message;
  const text = output.trim();
  return text ? `${message}. Its output:\n${text.slice(-OUTPUT_TAIL)}` : `${message}; it printed nothing`;
}

/** Resolves once `url` answers 200 (and `until` holds); rejects once `failed` says so, or on timeout. */
export async function waitForHttp(url: string, options: WaitOptions = {}): Promise<void> {
  const method = options.method ?? 'GET';
  const name = options.name ?? new URL(url).host;
  const timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
  const target = `${method} ${url}`;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const failure = options.failed?.();
    if (failure) throw new Error(withOutput(`${name} ${failure} before answering ${target}`, options.output?.()));
    const result = await probe(url, method, options.ca);
    if ('status' in result && result.status === 200) {
      if (!options.until || options.until()) return;
      last = 'answered 200 but not every worker is up yet';
    } else {
      last = 'status' in result ? `status ${result.status}` : result.error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        withOutput(`${name} did not get ready on ${target} within ${timeoutMs / 1000} s (${last})`, options.output?.()),
      );
    }
    await delay(POLL_MS);
  }
}

/** waitForHttp on the scenario's path and method at 127.0.0.1:port, over https when it serves TLS. */
export function waitUntilServing(port: number, scenario: Scenario, options: WaitOptions): Promise<void> {
  const scheme = scenario.tls ? 'https' : 'http';
  return waitForHttp(`${scheme}://127.0.0.1:${port}${scenario.path}`, {
    ...options,
    method: scenario.method,
    ...(scenario.tls ? { ca: readFileSync(scenario.tls.ca) } : {}),
  });
}
