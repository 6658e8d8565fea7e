import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { type Socket as IoSocket, io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

// --sticky: socket.io with its default transports (long-polling, then the upgrade) across
// several workers, the same peer always on one worker, and PROXY protocol clients by the address
// in their header. Real kelpie processes, real socket.io clients, loopback only.

afterEach(stopAll);

const APP = fixture('sticky-app.js');

/** A socket.io client with the default transports, connected and upgraded to WebSocket; or why not. */
async function session(url: string): Promise<{ client: IoSocket; error?: undefined } | { error: Error }> {
  const client = io(url, { reconnection: false, timeout: 10_000, forceNew: true });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('connect_error', reject);
    });
    if (client.io.engine.transport.name !== 'websocket') {
      await new Promise<void>((resolve, reject) => {
        client.io.engine.once('upgrade', () => resolve());
        client.io.engine.once('upgradeError', reject);
        client.once('disconnect', (reason) => reject(new Error(`disconnected: ${reason}`)));
      });
    }
    return { client };
  } catch (error) {
    client.close();
    return { error: error as Error };
  }
}

/**
 * Without --sticky the kernel spreads a client's polls over the workers: within a few clients
 * (at most 20), one fails. The first failure, or undefined.
 */
async function firstFailure(url: string): Promise<Error | undefined> {
  for (let i = 0; i < 20; i++) {
    const opened = await session(url);
    if (opened.error) return opened.error;
    opened.client.close();
  }
  return undefined;
}

function hello(client: IoSocket, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    client.once('disconnect', (reason) => reject(new Error(`disconnected: ${reason}`)));
    client.timeout(10_000).emit('hello', name, (error: Error | null, reply: string) => {
      if (error) reject(error);
      else resolve(reply);
    });
  });
}

/** One request on a fresh connection (to a URL or a unix socket path) that starts with `head` (a PROXY header); the pid that answered. */
function pidBehind(target: string, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = target.startsWith('http:') ? connect(Number(new URL(target).port), '127.0.0.1') : connect(target);
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('close', () => {
      const pid = text.match(/\r\nx-pid: (\d+)\r\n/i)?.[1];
      if (pid) resolve(pid);
      else reject(new Error(`no pid in ${JSON.stringify(text.slice(0, 200))}`));
    });
    socket.on('error', reject);
    // The header and the request in one write: the arbiter reads both, the worker gets the rest.
    socket.once('connect', () => socket.write(`${head}GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
  });
}

const proxyV1 = (source: string) => `PROXY TCP4 ${source} 127.0.0.1 40000 8000\r\n`;

describe('socket.io with its default transports across two workers', () => {
  it('works with --sticky: every client stays on one worker from the first poll to the WebSocket', async () => {
    const kp = await startKelpie(['-k', 'ws', '-w', '2', '--sticky', APP]);
    const clients: IoSocket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const opened = await session(kp.url);
        if (opened.error) throw opened.error;
        clients.push(opened.client);
      }
      for (const [i, client] of clients.entries()) {
        expect(client.io.engine.transport.name).toBe('websocket');
        const replies = [await hello(client, `c${i}`), await hello(client, `c${i}`), await hello(client, `c${i}`)];
        const pids = new Set(replies.map((reply) => reply.match(/from (\d+)$/)?.[1]));
        expect(pids.size).toBe(1);
        // Plain HTTP from the same address lands there too.
        expect((await get(kp.url)).headers['x-pid']).toBe([...pids][0]);
      }
    } finally {
      for (const client of clients) client.close();
    }
  });

  it('fails without it (connect_error "xhr post error" or "xhr poll error"); the log and the docs name --sticky', async () => {
    const docs = readFileSync(fileURLToPath(new URL('../../../docs/frameworks.md', import.meta.url)), 'utf8');
    const start = docs.indexOf('## socket.io across several workers');
    const section = docs.slice(start, docs.indexOf('\n## ', start + 1));
    expect(section).toMatch(/xhr post error/);
    expect(section).toMatch(/--sticky/);
    expect(section).toMatch(/ip_hash/);

    const kp = await startKelpie(['-k', 'ws', '-w', '2', APP]);
    expect((await firstFailure(kp.url))?.message).toMatch(/xhr (post|poll) error|disconnected: transport error/);
    // The worker that answered 400 says what to do, once.
    await kp.waitForLog(
      /answered 400 \(\w+ \/socket\.io\/, socket\.io\/engine\.io "Session ID unknown"\).*Run with --sticky/,
    );
  });
});

describe('socket.io setups that need a word from kelpie', () => {
  it('serves a module that exports only attach(server): socket.io connects, other HTTP requests get 404', async () => {
    const kp = await startKelpie(['-k', 'ws', '-w', '1', fixture('socketio-attach-only.js')]);
    const opened = await session(kp.url);
    if (opened.error) throw opened.error;
    try {
      expect(await hello(opened.client, 'only')).toMatch(/^hello only from \d+$/);
    } finally {
      opened.client.close();
    }
    expect((await get(kp.url)).status).toBe(404);
  });

  it('warns at start when attach(server) is exported under a class that does not call it', async () => {
    const kp = await startKelpie(['-w', '1', APP]);
    await kp.waitForLog(/exports attach\(server\), which -k async does not call.*Run it with -k ws/);
  });

  it("names --sticky when socket.io runs on the app's own server (listen()) across two workers", async () => {
    const kp = await startKelpie(['-k', 'ws', '-w', '2', fixture('socketio-listen.js')]);
    expect((await firstFailure(kp.url))?.message).toMatch(/xhr (post|poll) error|disconnected: transport error/);
    await kp.waitForLog(/"Session ID unknown"\).*Run with --sticky/);
    await kp.stop();
    const sticky = await startKelpie(['-k', 'ws', '-w', '2', '--sticky', fixture('socketio-listen.js')]);
    for (let i = 0; i < 4; i++) {
      const opened = await session(sticky.url);
      if (opened.error) throw opened.error;
      expect(await hello(opened.client, `s${i}`)).toMatch(/^hello s\d from \d+$/);
      opened.client.close();
    }
  });
});

describe('--sticky', () => {
  it('sends every connection from one peer address to the same worker', async () => {
    const kp = await startKelpie(['-w', '2', '--sticky', APP]);
    const pids = new Set<string>();
    for (let i = 0; i < 30; i++) pids.add(String((await get(kp.url)).headers['x-pid']));
    expect(pids.size).toBe(1);
  });

  it('with --proxy-protocol, routes by the address in the PROXY header', async () => {
    const kp = await startKelpie(['-w', '2', '--sticky', '--proxy-protocol', 'v1', APP]);
    const sources = ['192.0.2.1', '192.0.2.2', '198.51.100.7', '203.0.113.9', '10.1.2.3', '172.16.5.4'];
    const byAddress = new Map<string, Set<string>>();
    for (let round = 0; round < 4; round++) {
      for (const source of sources) {
        const pid = await pidBehind(kp.url, proxyV1(source));
        byAddress.set(source, (byAddress.get(source) ?? new Set()).add(pid));
      }
    }
    for (const pids of byAddress.values()) expect(pids.size).toBe(1);
    // Two workers, six addresses spread by a fixed hash: both workers have some of them.
    expect(new Set([...byAddress.values()].map((pids) => [...pids][0])).size).toBe(2);
    // A connection without a header, from the allowed loopback peer, is served as a direct client.
    expect((await get(kp.url)).status).toBe(200);
  });

  it('on a unix socket, routes by the PROXY header, and spreads connections without one (with a warning)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kelpie-sticky-'));
    try {
      const path = join(dir, 'k.sock');
      const kp = await startKelpie(['-w', '2', '--sticky', '--proxy-protocol', 'v1', '-b', `unix:${path}`, APP]);
      const sources = ['192.0.2.1', '192.0.2.2', '198.51.100.7', '203.0.113.9', '10.1.2.3', '172.16.5.4'];
      const first = new Map<string, string>();
      for (const source of sources) first.set(source, await pidBehind(path, proxyV1(source)));
      for (const source of sources) expect(await pidBehind(path, proxyV1(source))).toBe(first.get(source));
      expect(new Set(first.values()).size).toBe(2);
      // No header, no address: taken in turn by the ready workers, and said once.
      const spread = new Set<string>();
      for (let i = 0; i < 4; i++) spread.add(await pidBehind(path, ''));
      expect(spread.size).toBe(2);
      await kp.waitForLog(/--sticky: connections on unix:.* carry no client address/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the PROXY header in the arbiter with bounds: a malformed header and a silent client are closed and logged', async () => {
    const kp = await startKelpie(['-w', '2', '--sticky', '--proxy-protocol', 'v1', '--header-timeout', '1', APP]);
    const { port } = new URL(kp.url);
    const closedAfter = (bytes: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(bytes));
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk.toString('latin1');
        });
        socket.on('error', () => {});
        socket.on('close', () => resolve(text));
      });
    expect(await closedAfter('PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n')).toBe('');
    await kp.waitForLog(/Invalid PROXY header from ip=127\.0\.0\.1: PROXY v1 addresses are not TCP4/);
    expect(await closedAfter('')).toBe('');
    await kp.waitForLog(/Invalid PROXY header from ip=127\.0\.0\.1: no complete PROXY header within 1 s/);
    // The arbiter serves on.
    expect(await pidBehind(kp.url, proxyV1('192.0.2.1'))).toMatch(/^\d+$/);
  });

  it('keeps connections that arrive before any worker is ready, and sends them once one is', async () => {
    const kp = await startKelpie(['-w', '2', '--sticky', APP], { waitFor: 'listening' });
    const early = get(kp.url);
    expect((await early).status).toBe(200);
  });

  it('holds --worker-connections: a connection over the limit is closed and logged', async () => {
    const kp = await startKelpie(['-w', '1', '--sticky', '--worker-connections', '2', APP]);
    const { port } = new URL(kp.url);
    const open = () =>
      new Promise<ReturnType<typeof connect>>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1', () => resolve(socket));
        socket.on('error', () => {});
      });
    const held = [await open(), await open()];
    try {
      // Both are in the worker once a request on each has been answered.
      for (const socket of held) {
        socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        await new Promise((resolve) => socket.once('data', resolve));
      }
      const third = await open();
      await new Promise((resolve) => third.once('close', resolve));
      await kp.waitForLog(/Worker connection limit \(2\) reached: closed 1 new connection/);
    } finally {
      for (const socket of held) socket.destroy();
    }
    // Room again once they are gone.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) status = (await get(kp.url).catch(() => ({ status: 0 }))).status;
    expect(status).toBe(200);
  });

  it("sends a replaced worker's clients to the other worker meanwhile, then to the replacement in its slot", async () => {
    const kp = await startKelpie(['-w', '2', '--sticky', '--log-level', 'debug', APP]);
    const workers = [...kp.log().matchAll(/Booting worker with pid: (\d+)/g)].map((m) => m[1] as string);
    const first = String((await get(kp.url)).headers['x-pid']);
    const other = workers.find((pid) => pid !== first);
    const from = kp.log().length;
    process.kill(Number(first), 'SIGKILL');
    const replacement = (await kp.waitForLog(/Booting worker with pid: (\d+)/, { from }))[1] as string;
    // Until the replacement is ready the other worker serves this address (the replacement may
    // already be ready by the time the request arrives on a busy machine).
    expect([other, replacement]).toContain(String((await get(kp.url)).headers['x-pid']));
    await kp.waitForLog(new RegExp(`Worker ready \\(pid: ${replacement}\\)`), { from });
    for (let i = 0; i < 5; i++) expect(String((await get(kp.url)).headers['x-pid'])).toBe(replacement);
  });

  it.each([
    [['-k', 'sync'], /--sticky with -k sync/],
    [['-k', 'threads', '--threads', '2'], /--sticky with -k threads/],
    [['--check-config', '-k', 'sync'], /--sticky with -k sync/],
  ])('is refused with %j at start, naming both settings', async (args, message) => {
    const kp = await startKelpie([...args, '--sticky', APP], { waitFor: 'nothing' });
    const { code } = await kp.exited();
    expect(code).toBe(2);
    expect(kp.log()).toMatch(message);
  });
});
