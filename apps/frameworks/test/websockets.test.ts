import { get, stopAll } from '@kelpie/testkit';
import { openReading, wsClosed } from '@kelpie/testkit/ws';
import { afterAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { type Served, serve } from './helpers.js';

// Nitro's crossws WebSocket route (`experimental.websocket`, routes/ws.ts) under `kelpie -k ws
// -w 2`, from both of Nitro's Node builds: node-listener, whose entry exports `listener` and
// crossws's options as `websocket` (kelpie serves them through crossws's node adapter), and
// node-server, whose entry starts its own server with crossws on its `upgrade` event.

afterAll(stopAll);

/** Start the entry under -k ws, open the route, check a round trip and HTTP beside it. */
async function echo(entry: string): Promise<{ served: Served; ws: WebSocket }> {
  const served = await serve('nitro', entry, ['-k', 'ws']);
  const { kp } = served;
  expect(kp.log()).toMatch(/Using worker: ws/);
  const { ws, next } = await openReading(`${kp.url.replace(/^http/, 'ws')}/ws`);
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
    const gone = wsClosed(ws);
    served.kp.signal('SIGTERM');
    expect((await gone).code).toBe(1001);
    expect(await served.kp.exited(30_000)).toMatchObject({ code: 0 });
  });

  it('node-server (.output/server/index.mjs): echoes through the server’s own upgrade listener', async () => {
    const { served, ws } = await echo('.output/server/index.mjs');
    cleanups.push(served.cleanup);
    // Its sockets are crossws's on the app's own server: the client leaves before the stop.
    const gone = wsClosed(ws);
    ws.close(1000);
    expect((await gone).code).toBe(1000);
    await served.kp.stop();
  });
});
