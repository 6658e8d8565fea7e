import { get, stopAll } from '@kelpie/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Served, serve } from './helpers.js';

// Nitro's crossws WebSocket route (`experimental.websocket`, routes/ws.ts) under `kelpie -k ws
// -w 2`, from both of Nitro's Node builds: node-listener, whose entry exports `listener` and
// crossws's options as `websocket` (kelpie serves them through crossws's node adapter), and
// node-server, whose entry starts its own server with crossws on its `upgrade` event.

afterAll(stopAll);

/** Open a WebSocket and take its messages as text from the first (the route greets on open). */
function open(url: string): Promise<{ ws: WebSocket; next: () => Promise<string> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const queue: string[] = [];
    const waiting: ((text: string) => void)[] = [];
    ws.on('message', (data: Buffer) => {
      const take = waiting.shift();
      if (take) take(data.toString());
      else queue.push(data.toString());
    });
    const next = () => {
      const queued = queue.shift();
      return queued !== undefined ? Promise.resolve(queued) : new Promise<string>((done) => waiting.push(done));
    };
    ws.once('open', () => resolve({ ws, next }));
    ws.once('error', reject);
  });
}

const closed = (ws: WebSocket) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

/** Start the entry under -k ws, open the route, check a round trip and HTTP beside it. */
async function echo(entry: string): Promise<{ served: Served; ws: WebSocket }> {
  const served = await serve('nitro', entry, ['-k', 'ws']);
  const { kp } = served;
  expect(kp.log()).toMatch(/Using worker: ws/);
  const { ws, next } = await open(`${kp.url.replace(/^http/, 'ws')}/ws`);
  expect(await next()).toMatch(/^hello from \d+$/);
  ws.send('kelpie');
  expect(await next()).toBe('echo kelpie');
  expect((await get(`${kp.url}/`)).body).toBe('Hello from Nitro');
  return { served, ws };
}

describe('Nitro WebSockets under -k ws', () => {
  const cleanups: (() => void)[] = [];
  afterAll(() => {
    for (const cleanup of cleanups) cleanup();
  });

  it('node-listener (.output-listener/server/index.mjs:listener): echoes, and TERM closes with 1001', async () => {
    const { served, ws } = await echo('.output-listener/server/index.mjs:listener');
    cleanups.push(served.cleanup);
    const gone = closed(ws);
    served.kp.signal('SIGTERM');
    expect(await gone).toBe(1001);
    expect(await served.kp.exited(30_000)).toMatchObject({ code: 0 });
  });

  it('node-server (.output/server/index.mjs): echoes through the server’s own upgrade listener', async () => {
    const { served, ws } = await echo('.output/server/index.mjs');
    cleanups.push(served.cleanup);
    // Its sockets are crossws's on the app's own server: the client leaves before the stop.
    const gone = closed(ws);
    ws.close(1000);
    expect(await gone).toBe(1000);
    await served.kp.stop();
  });
});
