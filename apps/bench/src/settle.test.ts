import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { describeSettled, establishedOn, parseProcStat, settle } from './settle.js';

describe('settling between runs', () => {
  it("reads the machine's busy and total jiffies from /proc/stat", () => {
    const text = 'cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\nintr 1\n';
    expect(parseProcStat(text)).toEqual({ busy: 170, total: 990 });
    expect(parseProcStat('intr 1\n')).toBeUndefined();
  });

  let server: Server | undefined;
  const clients: Socket[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    if (server) await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  /** A loopback server with one connection open to it. */
  async function oneConnection(): Promise<{ port: number; client: Socket }> {
    const accepted: Socket[] = [];
    server = createServer((socket) => {
      accepted.push(socket);
      socket.on('end', () => socket.end());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const client = connect({ port, host: '127.0.0.1' });
    clients.push(client);
    await once(server, 'connection');
    return { port, client };
  }

  it('waits for the connections on the ports to close, and says so', async () => {
    const { port, client } = await oneConnection();
    const count = await establishedOn([port]);
    if (count < 0) return; // no ss here: nothing to wait for
    expect(count).toBe(1);
    const settling = settle({ ports: [port], pids: () => [], machineBusy: 1, limitMs: 30_000 });
    client.end();
    const settled = await settling;
    expect(settled).toMatchObject({ settled: true, connections: 0 });
    expect(describeSettled(settled)).toMatch(/^settled in \d+ ms$/);
  });

  it('gives up at its limit while a connection stays open, and says why', async () => {
    const { port } = await oneConnection();
    if ((await establishedOn([port])) < 0) return;
    const settled = await settle({
      ports: [port],
      pids: () => [],
      machineBusy: 1,
      limitMs: 200,
      quietLimitMs: 100,
      windowMs: 50,
    });
    expect(settled).toMatchObject({ settled: false, connections: 1 });
    expect(describeSettled(settled)).toContain('1 connection(s) still open');
  });
});
