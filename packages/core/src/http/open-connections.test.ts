import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultSettings } from '../config/settings.js';
import { Logger } from '../observability/logger.js';
import { AcceptGate } from './accept-gate.js';
import { HttpServers } from './http-server.js';

// What an open connection carries, on real sockets on 127.0.0.1: one `close` listener of kelpie's
// that both HttpServers' tracking and the accept gate's count rely on, and counts that return to
// zero as connections close.

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.splice(0)) step();
});

const log = () => new Logger('info', { write: () => {} });
const listen = (server: NetServer) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
const closeOf = (socket: Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()));

/** `count` keep-alive clients that each had one answer, and the server-side sockets. */
async function idleClients(port: number, count: number, serverSide: Socket[]): Promise<Socket[]> {
  const clients: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    cleanup.push(() => socket.destroy());
    await new Promise<void>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.endsWith('hello')) resolve();
      });
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    clients.push(socket);
  }
  expect(serverSide).toHaveLength(count);
  return clients;
}

/** `close` listeners on a plain node:http server's idle keep-alive connection. */
async function nodeCloseListeners(): Promise<number> {
  const server = createHttpServer((_req, res) => res.end('hello'));
  const serverSide: Socket[] = [];
  server.on('connection', (socket: Socket) => serverSide.push(socket));
  const port = await listen(server);
  cleanup.push(() => server.close());
  const [client] = await idleClients(port, 1, serverSide);
  const count = (serverSide[0] as Socket).listenerCount('close');
  client?.destroy();
  return count;
}

/**
 * HttpServers answering "hello" on connections handed to it by a front server on 127.0.0.1, its
 * gate counting what the door server sees (as for a listener this worker listens on); the
 * server-side sockets are collected as they connect.
 */
async function servedThroughGate(
  accept?: ConstructorParameters<typeof HttpServers>[0]['accept'],
): Promise<{ http: HttpServers; port: number; serverSide: Socket[] }> {
  const http = new HttpServers({
    settings: { ...defaultSettings({}), keepAlive: 5 },
    log: log(),
    listener: (_req, res) => res.end('hello'),
    listeners: [{ fd: -1, bind: '127.0.0.1:0', url: 'http://127.0.0.1' }],
    ...(accept ? { accept } : {}),
  });
  const server = http.servers[0] as NetServer;
  http.gate.add(server, { kind: 'shared', index: 0 });
  const serverSide: Socket[] = [];
  server.on('connection', (socket: Socket) => serverSide.push(socket));
  const front = createServer((socket) => http.accept(socket, 0));
  const port = await listen(front);
  cleanup.push(() => {
    http.close();
    front.close();
  });
  return { http, port, serverSide };
}

describe('open connections', () => {
  it("one close listener beyond Node's per connection; the connection set and the gate count return to zero", async () => {
    const { http, port, serverSide } = await servedThroughGate();
    const clients = await idleClients(port, 5, serverSide);
    expect(http.connections).toBe(5);
    expect(http.gate.connections).toBe(5);
    const node = await nodeCloseListeners();
    for (const socket of serverSide) {
      expect(socket.listenerCount('close')).toBe(node + 1);
      // Registered with on(), not once(): no wrapper per connection.
      expect(socket.rawListeners('close').some((listener) => 'listener' in listener)).toBe(false);
    }
    const closed = serverSide.map(closeOf);
    for (const client of clients.slice(0, 2)) client.destroy();
    await Promise.all(closed.slice(0, 2));
    expect(http.connections).toBe(3);
    expect(http.gate.connections).toBe(3);
    for (const client of clients.slice(2)) client.destroy();
    await Promise.all(closed);
    expect(http.connections).toBe(0);
    expect(http.gate.connections).toBe(0);
  });

  it("a class's accept policy hears each counted connection close from the same listener (accept.onClose)", async () => {
    const accepted: Socket[] = [];
    const closedSockets: Socket[] = [];
    const { http, port, serverSide } = await servedThroughGate({
      onAccept: (socket) => accepted.push(socket),
      onClose: (socket) => {
        // Told after the gate: its count already excludes this connection.
        expect(http.gate.connections).toBe(accepted.length - closedSockets.length - 1);
        closedSockets.push(socket);
      },
    });
    const clients = await idleClients(port, 3, serverSide);
    expect(accepted).toEqual(serverSide);
    const node = await nodeCloseListeners();
    for (const socket of serverSide) expect(socket.listenerCount('close')).toBe(node + 1);
    const closed = serverSide.map(closeOf);
    for (const client of clients) client.destroy();
    await Promise.all(closed);
    expect(new Set(closedSockets)).toEqual(new Set(serverSide));
    expect(closedSockets).toHaveLength(3);
  });

  it('a gate of its own counts with one shared close listener, down to zero', async () => {
    const gate = new AcceptGate({ limit: 0, backlog: 511, log: log() });
    const server = createServer();
    const serverSide: Socket[] = [];
    const port = await listen(server);
    cleanup.push(() => server.close());
    gate.add(server, { kind: 'own', host: '127.0.0.1', port });
    const arrived = new Promise<void>((resolve) =>
      server.on('connection', (socket: Socket) => {
        serverSide.push(socket);
        if (serverSide.length === 3) resolve();
      }),
    );
    const clients = [0, 1, 2].map(() => connect(port, '127.0.0.1').on('error', () => {}));
    await arrived;
    expect(gate.connections).toBe(3);
    const [first, ...others] = serverSide.map((socket) => socket.rawListeners('close'));
    expect(first).toHaveLength(1);
    for (const listeners of others) expect(listeners).toEqual(first);
    const closed = serverSide.map(closeOf);
    for (const client of clients) client.destroy();
    await Promise.all(closed);
    expect(gate.connections).toBe(0);
  });
});
