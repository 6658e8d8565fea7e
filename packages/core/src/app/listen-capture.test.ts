import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger } from '../observability/logger.js';
import {
  closeServedServer,
  type ListenCapture,
  type ListenMechanism,
  ownServer,
  startListenCapture,
} from './listen-capture.js';

const URLS = ['http://127.0.0.1:8123', 'unix:/run/app.sock'];
let capture: ListenCapture | undefined;
let lines: string[] = [];
const opened: { close(): unknown }[] = [];

afterEach(() => {
  capture?.dispose();
  capture = undefined;
  lines = [];
  for (const server of opened.splice(0)) server.close();
});

function start(mechanism: ListenMechanism, extraListen: 'refuse' | 'bind' = 'refuse'): ListenCapture {
  const log = new Logger('debug', { write: (line: string) => lines.push(line) });
  capture = startListenCapture({ log, urls: URLS, extraListen, mechanism });
  return capture;
}

/** Whether anything accepts connections on the port. */
function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the channel', () => {
  it('is found on this Node (tracing:net.server.listen), without binding anything', () => {
    const log = new Logger('debug', { write: (line: string) => lines.push(line) });
    capture = startListenCapture({ log, urls: URLS, extraListen: 'refuse' });
    expect(capture.mechanism).toBe('channel');
  });
});

describe.each(['channel', 'patch'] as const)('listen capture (%s)', (mechanism) => {
  it("takes the app's first HTTP server: no bind; listening, callback, event, address(), close() as after a real listen", async () => {
    const wanted = await freePort();
    const capture = start(mechanism);
    const server = createServer((_req, res) => res.end('x'));
    const calls: string[] = [];
    server.on('listening', () => calls.push('event'));
    server.listen(wanted, '127.0.0.1', () => calls.push('callback'));
    await once(server, 'listening');
    // As with a real listen: listeners added before listen() first, then its callback.
    expect(calls).toEqual(['event', 'callback']);
    expect(server.listening).toBe(true);
    expect(server.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port: 8123 });
    expect(await reachable(wanted)).toBe(false);
    expect(capture.server).toBe(server);
    await expect(capture.whenListening()).resolves.toBe(server);
    // close(): the callback gets no error (SvelteKit's shutdown depends on it), once.
    const closed = await new Promise<unknown>((resolve) => server.close(resolve));
    expect(closed).toBeUndefined();
    expect(server.listening).toBe(false);
    expect(server.address()).toBeNull();
    const again = await new Promise<unknown>((resolve) => server.close(resolve));
    expect(again).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
  });

  it('the same port again (another address of it) is the same server; another port is refused, or bound with --extra-listen bind', async () => {
    const capture = start(mechanism);
    const main = createServer();
    main.listen(3000, 'localhost');
    const alias = createServer();
    alias.listen({ port: 3000, host: '::1' });
    const admin = createServer();
    const adminPort = await freePort();
    admin.listen(adminPort, '127.0.0.1');
    await once(admin, 'listening');
    expect(capture.server).toBe(main);
    expect(alias.listening).toBe(true);
    expect(await reachable(adminPort)).toBe(false);
    expect(lines.join('')).toMatch(
      new RegExp(`second HTTP server on port ${adminPort} \\(host 127\\.0\\.0\\.1\\): not opened`),
    );
    capture.dispose();

    const bound = start(mechanism, 'bind');
    const first = createServer();
    first.listen(0);
    const second = createServer((_req, res) => res.end('admin'));
    opened.push(second);
    second.listen(adminPort, '127.0.0.1');
    await once(second, 'listening');
    expect(bound.server).toBe(first);
    expect(await reachable(adminPort)).toBe(true);
    expect(lines.join('')).toMatch(/opened as asked \(--extra-listen bind\)/);
  });

  it('leaves alone servers that are not HTTP, and kelpie’s own', async () => {
    start(mechanism);
    const raw = createNetServer();
    opened.push(raw);
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    expect(await reachable((raw.address() as AddressInfo).port)).toBe(true);
    const own = ownServer(createServer());
    opened.push(own);
    own.listen(0, '127.0.0.1');
    await once(own, 'listening');
    expect(await reachable((own.address() as AddressInfo).port)).toBe(true);
    expect(capture?.server).toBeUndefined();
  });

  it('a graceful stop closes the served server when a WebSocket library listens for upgrades: close once, the app’s own close() then succeeds', async () => {
    start(mechanism);
    const server = createServer();
    let closes = 0;
    server.on('close', () => closes++);
    server.listen(3000);
    await once(server, 'listening');
    // No upgrade listener: left for the app to close after the drain.
    closeServedServer();
    await new Promise((resolve) => setImmediate(resolve));
    expect(closes).toBe(0);
    expect(server.listening).toBe(true);
    server.on('upgrade', () => {});
    closeServedServer();
    expect(server.listening).toBe(false);
    await once(server, 'close');
    closeServedServer();
    const closed = await new Promise<unknown>((resolve) => server.close(resolve));
    expect(closed).toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    expect(closes).toBe(1);
    const again = await new Promise<unknown>((resolve) => server.close(resolve));
    expect(again).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
  });

  it('a module that exports its app: its own server is not served, with a warning', async () => {
    const capture = start(mechanism);
    capture.servingExport();
    const server: Server = createServer();
    server.listen(3000);
    await once(server, 'listening');
    expect(capture.server).toBeUndefined();
    expect(lines.join('')).toMatch(/exports an app and also started its own server on port 3000/);
  });
});
