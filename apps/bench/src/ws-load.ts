/**
 * The WebSocket load generator, run as its own process by the harness:
 *
 *   node dist/ws-load.js URL CONNECTIONS SECONDS MESSAGE_BYTES
 *   node dist/ws-load.js hold URL CONNECTIONS
 *
 * Opens CONNECTIONS sockets to a loopback URL; on each, sends a message, waits for its echo and
 * sends the next, for SECONDS seconds (a closed loop, like wrk's one request in flight per
 * connection). Prints one JSON line in wrk.ts's LoadResult shape: messages/s as `rps`, round-trip
 * percentiles, and errors (sockets that failed or closed early). With `hold`, it opens the
 * sockets, prints `held N`, and keeps them idle until its stdin closes (memory per connection).
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { LoadResult } from './wrk.js';

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number;
}

function checkLoopback(url: string): void {
  const host = URL.canParse(url) ? new URL(url).hostname : '';
  if (!/^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(host)) {
    throw new Error(`ws-load only loads loopback, not "${url}"`);
  }
}

/** Open `count` sockets, a hundred at a time so the server's accept queue is never flooded. */
async function openSockets(url: string, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  while (sockets.length < count) {
    const batch = Array.from(
      { length: Math.min(100, count - sockets.length) },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(url, { perMessageDeflate: false });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

/** Keep `count` idle sockets open until stdin closes. */
async function hold(url: string, count: number): Promise<void> {
  checkLoopback(url);
  const sockets = await openSockets(url, count);
  process.stdout.write(`held ${sockets.length}\n`);
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('end', () => resolve()));
  for (const ws of sockets) ws.terminate();
}

async function main(): Promise<void> {
  if (process.argv[2] === 'hold') return hold(process.argv[3] ?? '', Number(process.argv[4]));
  const [url = '', connectionsText = '', secondsText = '', bytesText = '64'] = process.argv.slice(2);
  checkLoopback(url);
  const connections = Number(connectionsText);
  const seconds = Number(secondsText);
  const payload = Buffer.alloc(Number(bytesText), 120);
  const latencies: number[] = [];
  let errors = 0;

  const sockets = await openSockets(url, connections);
  let deadline = 0;
  const loops = sockets.map((ws) => {
    let sentAt = 0;
    const send = () => {
      sentAt = performance.now();
      ws.send(payload);
    };
    const finished = new Promise<void>((resolve) => {
      ws.on('message', () => {
        const now = performance.now();
        latencies.push(now - sentAt);
        if (now < deadline) send();
        else resolve();
      });
      ws.on('error', () => {
        errors++;
        resolve();
      });
      ws.on('close', () => resolve());
    });
    return { send, finished };
  });
  const started = performance.now();
  deadline = started + seconds * 1000;
  for (const loop of loops) loop.send();
  await Promise.all(loops.map((loop) => loop.finished));
  const elapsed = (performance.now() - started) / 1000;
  for (const ws of sockets) ws.terminate();
  const sorted = Float64Array.from(latencies).sort();
  const result: LoadResult = {
    rps: latencies.length / elapsed,
    requests: latencies.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors,
    errorDetail: 'none',
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`ws-load: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
