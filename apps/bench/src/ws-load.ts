/**
 * The WebSocket load generator, run as its own process by the harness:
 *
 *   node dist/ws-load.js URL CONNECTIONS SECONDS MESSAGE_BYTES
 *
 * Opens CONNECTIONS sockets to a loopback URL; on each, sends a message, waits for its echo and
 * sends the next, for SECONDS seconds (a closed loop, like wrk's one request in flight per
 * connection). Prints one JSON line in wrk.ts's LoadResult shape: messages/s as `rps`, round-trip
 * percentiles, and errors (sockets that failed or closed early).
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { LoadResult } from './wrk.js';

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number;
}

async function main(): Promise<void> {
  const [url = '', connectionsText = '', secondsText = '', bytesText = '64'] = process.argv.slice(2);
  const host = URL.canParse(url) ? new URL(url).hostname : '';
  if (!/^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(host))
    throw new Error(`ws-load only loads loopback, not "${url}"`);
  const connections = Number(connectionsText);
  const seconds = Number(secondsText);
  const payload = Buffer.alloc(Number(bytesText), 120);
  const latencies: number[] = [];
  let errors = 0;

  const sockets = await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(url, { perMessageDeflate: false });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
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
