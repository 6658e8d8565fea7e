import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { fixture, get } from './helpers.js';

/** WebSocket libraries apps bring with them (SPEC.md 1.7): @fastify/websocket and crossws. */

afterEach(stopAll);

const app = (name: string) => fixture(`ws-libraries/${name}`);
const wsUrl = (httpUrl: string, path: string) => `${httpUrl.replace(/^http/, 'ws')}${path}`;

/** Open a WebSocket and collect its messages as text from the start (the server may speak first). */
function open(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; next: () => Promise<string> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
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

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

/** The status of a refused upgrade. */
function refusal(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
  });
}

describe('@fastify/websocket through the Fastify adapter', () => {
  it('echoes on a websocket route under -k ws -w 2, and HTTP routes still answer', async () => {
    const kp = await startKelpie(['-k', 'ws', '-w', '2', app('fastify-websocket.mjs')]);
    expect(kp.log()).toMatch(/Using worker: ws/);
    // Forwarded headers of the upgrade request are settled as on requests: the trusted peer's client.
    const { ws, next } = await open(wsUrl(kp.url, '/echo'), { 'x-forwarded-for': '203.0.113.7' });
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
    const gone = closed(ws);
    ws.close(1000);
    expect(await gone).toBe(1000);
  });
  it('answers the upgrade 426 under -k async, and HTTP routes as before', async () => {
    const kp = await startKelpie([app('fastify-websocket.mjs')]);
    expect(await refusal(wsUrl(kp.url, '/echo'))).toBe(426);
    expect((await get(`${kp.url}/http`)).status).toBe(200);
  });
});

describe('crossws (h3, Nitro and Nuxt node-listener builds)', () => {
  it('serves crossws hooks exported as websocket through crossws, with its upgrade hook', async () => {
    const kp = await startKelpie(['-k', 'ws', app('crossws-hooks.mjs')]);
    const { ws, next } = await open(wsUrl(kp.url, '/chat'));
    expect(await next()).toMatch(/^open \d+$/);
    ws.send('hi');
    expect(await next()).toBe('echo hi');
    expect(await refusal(wsUrl(kp.url, '/refuse'))).toBe(403);
    expect((await get(kp.url)).body).toBe('http');
    // A graceful stop closes crossws's connections with 1001, and the server exits.
    const gone = closed(ws);
    kp.signal('SIGTERM');
    expect(await gone).toBe(1001);
    expect(await kp.exited()).toMatchObject({ code: 0 });
  });

  it('serves a crossws node adapter exported as websocket through its handleUpgrade, closeAll on TERM', async () => {
    const kp = await startKelpie(['-k', 'ws', app('crossws-adapter.mjs')]);
    const { ws, next } = await open(wsUrl(kp.url, '/'));
    ws.send('hi');
    expect(await next()).toBe('adapter hi');
    const gone = closed(ws);
    kp.signal('SIGTERM');
    expect(await gone).toBe(1001);
    expect(await kp.exited()).toMatchObject({ code: 0 });
  });

  it('refuses crossws hooks under a class without WebSockets with 426', async () => {
    const kp = await startKelpie([app('crossws-hooks.mjs')]);
    expect(await refusal(wsUrl(kp.url, '/chat'))).toBe(426);
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
