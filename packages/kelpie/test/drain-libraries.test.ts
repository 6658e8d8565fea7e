import { type KelpieProcess, startKelpie, stopAll } from '@kelpie/testkit';
import { echoes, openWs, wsClosed, wsUrl } from '@kelpie/testkit/ws';
import { type Socket as IoSocket, io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { fixture, get, started } from './helpers.js';

/**
 * A graceful stop with sockets a library manages (SPEC.md 1.11, "Graceful stop of upgraded
 * connections"): socket.io, `ws` servers of the app, Fastify's onClose. The clients get the
 * library's own close, a request in flight still completes, and the worker exits as soon as they
 * are gone, long before --graceful-timeout (30 s here; the old stop waited all of it).
 */

const GRACEFUL = ['--graceful-timeout', '30'];
/** Far below --graceful-timeout 30, far above a stop that waits for nothing on a loaded machine. */
const EARLY_MS = 10_000;

const drain = (name: string) => fixture(`drain-libraries/${name}`);

afterEach(stopAll);

/** A socket.io client on one transport, connected, with its `disconnect` reason to come. */
async function ioClient(
  url: string,
  transport: 'websocket' | 'polling',
): Promise<{ client: IoSocket; disconnected: Promise<string> }> {
  const client = io(url, { transports: [transport], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('connect_error', reject);
  });
  const answer = await client.timeout(5000).emitWithAck('hello', transport);
  expect(answer).toBe(`hello ${transport}`);
  const disconnected = new Promise<string>((resolve) => client.once('disconnect', (reason) => resolve(reason)));
  return { client, disconnected };
}

async function workerPid(url: string): Promise<string> {
  return /^pid (\d+)/.exec((await get(url)).body)?.[1] ?? '';
}

/** The worker's stop took less than EARLY_MS and never reached --graceful-timeout. */
async function exitedEarly(kp: KelpieProcess, pid: string, since: number): Promise<void> {
  await kp.waitForLog(new RegExp(`Worker exiting \\(pid: ${pid}\\)`), { timeoutMs: 40_000 });
  expect(Date.now() - since).toBeLessThan(EARLY_MS);
  expect(kp.log()).not.toMatch(/Graceful timeout/);
}

describe('graceful stop of sockets a library manages', () => {
  it.each([
    ['through attach()', 'socketio-attach.mjs'],
    ["on the app's own server (listen capture)", 'socketio-own.mjs'],
  ])(
    'socket.io %s: TERM disconnects websocket and polling clients, a slow request completes, the worker exits early',
    async (_where, fixture) => {
      const kp = await startKelpie(['-k', 'ws', '-w', '1', ...GRACEFUL, drain(fixture)]);
      const pid = await workerPid(kp.url);
      const overWs = await ioClient(kp.url, 'websocket');
      const polling = await ioClient(kp.url, 'polling');
      const slow = await started(`${kp.url}/slow?ms=1500`);
      const since = Date.now();
      kp.signal('SIGTERM');
      expect(await overWs.disconnected).toBe('transport close');
      expect(await polling.disconnected).toBe('transport close');
      expect(await slow.body).toBe('started\nslow done\n');
      await exitedEarly(kp, pid, since);
      expect(await kp.exited()).toMatchObject({ code: 0 });
    },
  );

  describe("a `ws` WebSocketServer on the app's own server", () => {
    it('TERM: clients get close 1001, a slow request completes, the app’s SIGTERM listener runs, the worker exits early', async () => {
      const kp = await startKelpie(['-k', 'ws', '-w', '1', ...GRACEFUL, drain('ws-own.mjs')]);
      const pid = await workerPid(kp.url);
      const sockets = await Promise.all([openWs(wsUrl(kp.url)), openWs(wsUrl(kp.url))]);
      expect(await echoes(sockets[0] as WebSocket, 'a')).toBe('echo a');
      const ends = sockets.map(wsClosed);
      const slow = await started(`${kp.url}/slow?ms=1500`);
      const since = Date.now();
      kp.signal('SIGTERM');
      for (const end of await Promise.all(ends)) expect(end).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(await slow.body).toBe('started\nslow done\n');
      await exitedEarly(kp, pid, since);
      expect(kp.log()).toMatch(new RegExp(`fixture: SIGTERM listener ran in ${pid}`));
      expect(await kp.exited()).toMatchObject({ code: 0 });
    });

    it('HUP: the old worker’s clients get close 1001 and it exits early; the new worker serves', async () => {
      const kp = await startKelpie(['-k', 'ws', '-w', '1', ...GRACEFUL, drain('ws-own.mjs')]);
      const pid = await workerPid(kp.url);
      const ws = await openWs(wsUrl(kp.url));
      const end = wsClosed(ws);
      const since = Date.now();
      kp.signal('SIGHUP');
      expect(await end).toEqual({ code: 1001, reason: 'Server shutting down' });
      await exitedEarly(kp, pid, since);
      const next = await openWs(wsUrl(kp.url));
      expect(await echoes(next, 'b')).toBe('echo b');
      expect(await workerPid(kp.url)).not.toBe(pid);
      next.close();
    });

    it('--max-requests recycle: the slow request that reached the limit completes, clients get 1001, the worker exits early', async () => {
      const kp = await startKelpie(['-k', 'ws', '-w', '1', '--max-requests', '2', ...GRACEFUL, drain('ws-own.mjs')]);
      const pid = await workerPid(kp.url);
      const ws = await openWs(wsUrl(kp.url));
      const end = wsClosed(ws);
      const since = Date.now();
      // The second request: the worker retires while it runs.
      const slow = await started(`${kp.url}/slow?ms=1500`);
      await kp.waitForLog(/Autorestarting worker after current request/);
      expect(await end).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(await slow.body).toBe('started\nslow done\n');
      await exitedEarly(kp, pid, since);
    });
  });

  it.each([
    ['Fastify with a `ws` server of its own: onClose runs in the stop, clients close', 'fastify-onclose.mjs', '/', 'c'],
    ['@fastify/websocket: TERM closes its clients with 1001, onClose runs', 'fastify-websocket.mjs', '/echo', 'd'],
  ])('%s, the worker exits early', async (_name, file, path, text) => {
    const kp = await startKelpie(['-k', 'ws', '-w', '1', ...GRACEFUL, drain(file)]);
    const pid = await workerPid(kp.url);
    const ws = await openWs(wsUrl(kp.url, path));
    expect(await echoes(ws, text)).toBe(`echo ${text}`);
    const end = wsClosed(ws);
    const slow = await started(`${kp.url}/slow?ms=1500`);
    const since = Date.now();
    kp.signal('SIGTERM');
    expect(await end).toEqual({ code: 1001, reason: 'Server shutting down' });
    expect(await slow.body).toBe('started\nslow done\n');
    await exitedEarly(kp, pid, since);
    expect(kp.log()).toMatch(new RegExp(`fixture: fastify onClose ran in ${pid}`));
    expect(await kp.exited()).toMatchObject({ code: 0 });
  });
});
