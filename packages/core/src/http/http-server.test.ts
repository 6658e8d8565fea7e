import type { ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestListener } from '../app/app.js';
import { defaultSettings, type Settings } from '../config/settings.js';
import { Logger } from '../observability/logger.js';
import { HttpServers, type HttpServersOptions } from './http-server.js';
import { rawResponse } from './raw-response.js';
import { loadServingFeatures } from './serving-features.js';

// HttpServers on real sockets on 127.0.0.1: connections are accepted by a plain TCP server here
// and handed in with accept(), as the arbiter hands them to `accept = 'arbiter'` classes.

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.splice(0)) step();
});

interface Running {
  http: HttpServers;
  port: number;
  lines: string[];
}

async function start(
  listener: RequestListener,
  overrides: Partial<Settings> = {},
  extra: Partial<HttpServersOptions> = {},
): Promise<Running> {
  const settings: Settings = { ...defaultSettings({}), keepAlive: 5, ...overrides };
  const lines: string[] = [];
  const log = new Logger('info', { write: (line: string) => lines.push(line) });
  const http = new HttpServers({
    settings,
    log,
    listener,
    listeners: [{ fd: -1, bind: '127.0.0.1:0', url: 'http://127.0.0.1' }],
    ...extra,
  });
  const front: NetServer = createServer((socket) => http.accept(socket, 0));
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => {
    http.close();
    front.close();
  });
  return { http, port: (front.address() as AddressInfo).port, lines };
}

/** A client connection that collects what it reads. */
interface Client {
  socket: Socket;
  /** Everything read so far. */
  text: () => string;
  /** Resolves once what was read matches. */
  until: (pattern: RegExp) => Promise<string>;
  closed: Promise<void>;
}

async function client(port: number): Promise<Client> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  const waits: { pattern: RegExp; resolve: (text: string) => void }[] = [];
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    for (const wait of [...waits]) {
      if (wait.pattern.test(text)) {
        waits.splice(waits.indexOf(wait), 1);
        wait.resolve(text);
      }
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  cleanup.push(() => socket.destroy());
  return {
    socket,
    text: () => text,
    until: (pattern) =>
      pattern.test(text) ? Promise.resolve(text) : new Promise((resolve) => waits.push({ pattern, resolve })),
    closed,
  };
}

const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
const hello: RequestListener = (_req, res) => res.end('hello');
/** Settles `promise` into a flag, to look at without waiting. */
function watch(promise: Promise<unknown>): { done: boolean } {
  const state = { done: false };
  promise.then(() => {
    state.done = true;
  });
  return state;
}
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('HttpServers drain', () => {
  it('lets an in-flight request finish, answered with Connection: close, then resolves', async () => {
    let held: ServerResponse | undefined;
    let arrived: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const { http, port } = await start((_req, res) => {
      held = res;
      arrived();
    });
    const c = await client(port);
    c.socket.write(request('/slow'));
    await started;
    expect(http.inFlight()).toBe(1);
    const drained = watch(http.drain());
    await turn();
    expect(drained.done).toBe(false);
    held?.end('done');
    const response = await c.until(/done$/);
    expect(response).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(response).toMatch(/\r\nConnection: close\r\n/);
    await c.closed;
    await http.drain();
    expect(http.connections).toBe(0);
  });

  it('closes an idle keep-alive connection once it has been idle for the grace, min(--keep-alive, 1 s)', async () => {
    const { http, port } = await start(hello);
    const c = await client(port);
    c.socket.write(request('/'));
    expect(await c.until(/hello$/)).toMatch(/\r\nConnection: keep-alive\r\n/);
    const since = Date.now();
    const drained = http.drain();
    await c.closed;
    // The sweep closes a connection only after a whole grace of idleness (1 s here).
    expect(Date.now() - since).toBeGreaterThanOrEqual(950);
    await drained;
  });

  it('answers a request that comes within the grace, with Connection: close, instead of resetting', async () => {
    const { http, port } = await start(hello);
    const c = await client(port);
    c.socket.write(request('/first'));
    await c.until(/hello$/);
    const drained = http.drain();
    c.socket.write(request('/second'));
    const both = await c.until(/hello[\s\S]*hello$/);
    expect(both.slice(both.indexOf('hello') + 5)).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\nConnection: close\r\n/);
    await c.closed;
    await drained;
  });

  it('does not wait for upgraded connections; upgradedClosed() does', async () => {
    let upgraded: { destroy(): void } | undefined;
    const { http, port } = await start(
      hello,
      {},
      {
        upgrade: (_req, socket) => {
          upgraded = socket;
          socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
        },
      },
    );
    const c = await client(port);
    c.socket.write('GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
    await c.until(/101 Switching Protocols/);
    expect(http.upgradedConnections).toBe(1);
    await http.drain();
    const gone = watch(http.upgradedClosed());
    await turn();
    expect(gone.done).toBe(false);
    upgraded?.destroy();
    await http.upgradedClosed();
    expect(http.upgradedConnections).toBe(0);
  });
});

describe('HttpServers upgrades', () => {
  const upgrade = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';

  it('refuseWebSockets: an app that uses WebSockets gets 426, with a warning naming the class', async () => {
    const app = { websocket: { message() {} } };
    const { port, lines } = await start(hello, {}, { refuseWebSockets: { workerClass: 'sync', app } });
    const c = await client(port);
    c.socket.write(upgrade);
    await c.closed;
    expect(c.text()).toBe(
      rawResponse(426, 'WebSocket upgrades need the ws worker class (kelpie -k ws).\n', { Upgrade: 'websocket' }),
    );
    expect(lines.join('')).toMatch(/WebSocket upgrade refused for \/ws: .*-k sync does not serve/);
  });

  it('refuseWebSockets: an app without WebSockets gets upgrade requests as plain ones, as with no upgrade listener', async () => {
    const { port, lines } = await start(hello, {}, { refuseWebSockets: { workerClass: 'sync', app: {} } });
    const c = await client(port);
    c.socket.write(upgrade);
    expect(await c.until(/hello$/)).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(lines).toEqual([]);
  });

  it('an upgrade that breaks a request limit is refused before the listener sees it', async () => {
    let called = false;
    const { port } = await start(
      hello,
      { limitRequestLine: 20 },
      {
        upgrade: () => {
          called = true;
        },
      },
    );
    const c = await client(port);
    c.socket.write(upgrade.replace('/ws', `/${'a'.repeat(30)}`));
    await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 414 URI Too Long\r\n/);
    expect(called).toBe(false);
  });
});

describe('HttpServers and the modules its settings turn on', () => {
  it('is refused before loadServingFeatures(), and serves with them from the first connection after', async () => {
    const app: RequestListener = (req, res) => res.end(`from ${req.socket.remoteAddress}`);
    await expect(start(app, { proxyProtocol: 'v1' })).rejects.toThrow(/await loadServingFeatures\(settings\) first/);
    await loadServingFeatures({ ...defaultSettings({}), proxyProtocol: 'v1' });
    const { port } = await start(app, { proxyProtocol: 'v1' });
    const c = await client(port);
    c.socket.write(`PROXY TCP4 192.0.2.7 192.0.2.1 5000 80\r\n${request('/')}`);
    expect(await c.until(/from 192\.0\.2\.7$/)).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });
});
