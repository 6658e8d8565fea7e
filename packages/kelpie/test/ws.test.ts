import { connect, type Socket } from 'node:net';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { nextMessage, openWs, refusal, wsClosed, wsUrl } from '@kelpie/testkit/ws';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { fixture, get } from './helpers.js';

afterEach(stopAll);

/** A raw WebSocket client that completes the handshake and then does only what the test says. */
async function rawClient(httpUrl: string): Promise<Socket> {
  const { port } = new URL(httpUrl);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    'GET /raw HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('data', (chunk: Buffer) =>
      chunk.toString().startsWith('HTTP/1.1 101') ? resolve() : reject(new Error(chunk.toString())),
    );
  });
  return socket;
}

/** A masked text frame, as a client must send it. */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = payload.map((byte, i) => byte ^ (mask[i % 4] as number));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(masked)]);
}

describe('-k ws', () => {
  it('serves HTTP and echoes text and binary messages', async () => {
    const kp = await startKelpie(['-k', 'ws', fixture('ws-app.js')]);
    expect(kp.log()).toMatch(/Using worker: ws/);
    expect((await get(kp.url)).body).toMatch(/^http ok from \d+$/);
    const ws = await openWs(wsUrl(kp.url, '/echo'));
    ws.send('hello');
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from('hello'), isBinary: false });
    ws.send(Buffer.from([0, 1, 2, 255]));
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from([0, 1, 2, 255]), isBinary: true });
    ws.close(1000);
    expect((await wsClosed(ws)).code).toBe(1000);
  });

  it('broadcasts to every socket of the worker', async () => {
    const kp = await startKelpie(['-k', 'ws', '-w', '1', fixture('ws-app.js')]);
    const [a, b] = await Promise.all([openWs(wsUrl(kp.url)), openWs(wsUrl(kp.url))]);
    const received = Promise.all([nextMessage(a as WebSocket), nextMessage(b as WebSocket)]);
    a?.send('broadcast:to all');
    const [ma, mb] = await received;
    expect(ma.data.toString()).toBe('to all');
    expect(mb.data.toString()).toBe('to all');
  });

  it('refuses an upgrade with the status upgrade() returns, and 500 when it throws', async () => {
    const kp = await startKelpie(['-k', 'ws', fixture('ws-app.js')]);
    expect((await refusal(wsUrl(kp.url, '/refuse'))).status).toBe(403);
    const teapot = await refusal(wsUrl(kp.url, '/teapot'));
    expect(teapot).toMatchObject({ status: 418, body: 'short and stout\n' });
    expect(teapot.headers['x-why']).toBe('teapot');
    expect((await refusal(wsUrl(kp.url, '/throw'))).status).toBe(500);
    await kp.waitForLog(/Error in websocket\.upgrade\(\) for \/throw[\s\S]*upgrade exploded/);
    // The worker serves on.
    expect((await get(kp.url)).status).toBe(200);
  });

  it('closes with 1009 when a message exceeds --ws-max-payload', async () => {
    const kp = await startKelpie(['-k', 'ws', '--ws-max-payload', '1024', fixture('ws-app.js')]);
    const ws = await openWs(wsUrl(kp.url));
    ws.on('error', () => {});
    const end = wsClosed(ws);
    ws.send('x'.repeat(2048));
    expect((await end).code).toBe(1009);
  });

  it('on TERM, open sockets get close 1001 and the server exits once they are gone', async () => {
    const kp = await startKelpie(['-k', 'ws', '-w', '2', fixture('ws-app.js')]);
    const sockets = await Promise.all([openWs(wsUrl(kp.url)), openWs(wsUrl(kp.url)), openWs(wsUrl(kp.url))]);
    const ends = sockets.map(wsClosed);
    kp.signal('SIGTERM');
    for (const end of await Promise.all(ends)) expect(end).toEqual({ code: 1001, reason: 'Server shutting down' });
    expect(await kp.exited()).toMatchObject({ code: 0 });
  });

  it('terminates sockets whose clients do not close by --graceful-timeout', async () => {
    const kp = await startKelpie(['-k', 'ws', '--graceful-timeout', '1', fixture('ws-app.js')]);
    const raw = await rawClient(kp.url);
    // This client reads the close frame and never answers it.
    raw.on('data', () => {});
    const gone = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    kp.signal('SIGTERM');
    await kp.waitForLog(/Graceful timeout \(1s\) reached; closing remaining connections/);
    await gone;
    expect(await kp.exited()).toMatchObject({ code: 0 });
  });

  it('on HUP, sockets of the old workers get close 1001 and new sockets reach the new workers', async () => {
    const kp = await startKelpie(['-k', 'ws', '-w', '1', fixture('ws-app.js')]);
    const before = (await get(kp.url)).body;
    const ws = await openWs(wsUrl(kp.url));
    const end = wsClosed(ws);
    kp.signal('SIGHUP');
    expect((await end).code).toBe(1001);
    const next = await openWs(wsUrl(kp.url));
    next.send('new worker');
    expect((await nextMessage(next)).data.toString()).toBe('new worker');
    expect((await get(kp.url)).body).not.toBe(before);
    next.close();
  });

  it('drops a peer that stops answering pings', async () => {
    const kp = await startKelpie(['-k', 'ws', '--ws-ping-interval', '0.3', fixture('ws-app.js')]);
    const raw = await rawClient(kp.url);
    // This client reads the pings but never answers them.
    raw.on('data', () => {});
    const started = Date.now();
    await new Promise<void>((resolve) => raw.once('close', () => resolve()));
    expect(Date.now() - started).toBeLessThan(5000);
    // A well-behaved client answers pings and stays.
    const ws = await openWs(wsUrl(kp.url));
    await new Promise<void>((resolve) => ws.once('ping', () => ws.once('ping', () => resolve())));
    ws.send('still here');
    expect((await nextMessage(ws)).data.toString()).toBe('still here');
  });

  it('drops a reader that falls more than --ws-max-buffered behind, and logs why', async () => {
    const kp = await startKelpie(['-k', 'ws', '--ws-max-buffered', '1048576', fixture('ws-app.js')]);
    const raw = await rawClient(kp.url);
    raw.pause();
    raw.write(textFrame('flood:64'));
    await kp.waitForLog(
      /Dropping a WebSocket whose client reads too slowly: \d+ bytes unsent \(--ws-max-buffered 1048576\)/,
    );
    raw.destroy();
    expect((await get(kp.url)).status).toBe(200);
  });

  it('calls attach(server) once per server, so socket.io works unchanged', async () => {
    const kp = await startKelpie(['-k', 'ws', fixture('socketio-app.js')]);
    const client = io(kp.url, { transports: ['websocket'], reconnection: false });
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        client.once('connect_error', reject);
        client.emit('hello', 'kelpie', (reply: string) => resolve(reply));
      });
      expect(answer).toMatch(/^hello kelpie from \d+$/);
      expect((await get(kp.url)).body).toBe('plain http');
    } finally {
      client.close();
    }
  });
});

describe('WebSocket apps under a worker class without WebSockets', () => {
  it('refuses the upgrade with 426 and says to use -k ws', async () => {
    const kp = await startKelpie([fixture('ws-app.js')]);
    const refused = await refusal(wsUrl(kp.url, '/echo'));
    expect(refused.status).toBe(426);
    expect(refused.body).toMatch(/kelpie -k ws/);
    await kp.waitForLog(/WebSocket upgrade refused for \/echo: .*-k async does not serve; run it with -k ws/);
    expect((await get(kp.url)).status).toBe(200);
  });
});
