import { startKelpie, stopAll } from '@kelpie/testkit';
import { openReading, refusal, wsClosed, wsUrl } from '@kelpie/testkit/ws';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

/** WebSocket libraries apps bring with them (SPEC.md 1.7): @fastify/websocket and crossws. */

afterEach(stopAll);

const app = (name: string) => fixture(`ws-libraries/${name}`);
describe('@fastify/websocket through the Fastify adapter', () => {
  it('echoes on a websocket route under -k ws -w 2, and HTTP routes still answer', async () => {
    const kp = await startKelpie(['-k', 'ws', '-w', '2', app('fastify-websocket.mjs')]);
    expect(kp.log()).toMatch(/Using worker: ws/);
    // Forwarded headers of the upgrade request are settled as on requests: the trusted peer's client.
    const { ws, next } = await openReading(wsUrl(kp.url, '/echo'), { 'x-forwarded-for': '203.0.113.7' });
    const greeting = await next();
    expect(greeting).toMatch(/^hello 203\.0\.113\.7 from \d+$/);
    const pid = greeting.split(' ').at(-1);
    ws.send('ping');
    expect(await next()).toBe(`${pid}: ping`);
    ws.send('again');
    expect(await next()).toBe(`${pid}: again`);
    const http = await get(`${kp.url}/http`);
    expect(http.status).toBe(200);
    expect(JSON.parse(http.body)).toMatchObject({ pid: expect.any(Number) });
    const gone = wsClosed(ws);
    ws.close(1000);
    expect((await gone).code).toBe(1000);
  });
  it('answers the upgrade 426 under -k async, and HTTP routes as before', async () => {
    const kp = await startKelpie([app('fastify-websocket.mjs')]);
    expect((await refusal(wsUrl(kp.url, '/echo'))).status).toBe(426);
    expect((await get(`${kp.url}/http`)).status).toBe(200);
  });
});

describe('crossws (h3, Nitro and Nuxt node-listener builds)', () => {
  it('serves crossws hooks exported as websocket through crossws, with its upgrade hook', async () => {
    const kp = await startKelpie(['-k', 'ws', app('crossws-hooks.mjs')]);
    const { ws, next } = await openReading(wsUrl(kp.url, '/chat'));
    expect(await next()).toMatch(/^open \d+$/);
    ws.send('hi');
    expect(await next()).toBe('echo hi');
    expect((await refusal(wsUrl(kp.url, '/refuse'))).status).toBe(403);
    expect((await get(kp.url)).body).toBe('http');
    // A graceful stop closes crossws's connections with 1001, and the server exits.
    const gone = wsClosed(ws);
    kp.signal('SIGTERM');
    expect((await gone).code).toBe(1001);
    expect(await kp.exited()).toMatchObject({ code: 0 });
  });

  it('serves a crossws node adapter exported as websocket through its handleUpgrade, closeAll on TERM', async () => {
    const kp = await startKelpie(['-k', 'ws', app('crossws-adapter.mjs')]);
    const { ws, next } = await openReading(wsUrl(kp.url, '/'));
    ws.send('hi');
    expect(await next()).toBe('adapter hi');
    const gone = wsClosed(ws);
    kp.signal('SIGTERM');
    expect((await gone).code).toBe(1001);
    expect(await kp.exited()).toMatchObject({ code: 0 });
  });

  it('refuses crossws hooks under a class without WebSockets with 426', async () => {
    const kp = await startKelpie([app('crossws-hooks.mjs')]);
    expect((await refusal(wsUrl(kp.url, '/chat'))).status).toBe(426);
    expect((await get(kp.url)).body).toBe('http');
  });
});

describe('a foreign object under a reserved name', () => {
  it('is refused at start (exit 4), saying what to export instead', async () => {
    const kp = await startKelpie(['-k', 'ws', app('foreign-websocket.mjs')], { waitFor: 'nothing' });
    expect((await kp.exited(20_000)).code).toBe(4);
    expect(kp.log()).toMatch(
      /The app's websocket is object with keys onConnection, path, with none of upgrade, open, message, close, error as a function, which kelpie cannot serve\. Export websocket as kelpie's handlers/,
    );
  });
});
