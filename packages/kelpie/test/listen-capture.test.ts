import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reusePortSupported } from '@kelpie/core/internal';
import { freePort, type KelpieProcess, startKelpie, startLoad, stopAll, waitUntil } from '@kelpie/testkit';
import { makeCertificates, tlsArgs } from '@kelpie/testkit/certificates';
import { io } from 'socket.io-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { fixture, get, started } from './helpers.js';

// Apps that start their own server (issue 18, SPEC.md 1.11): the module calls listen() and
// kelpie serves that server on its own binds, with both capture mechanisms; the app's own
// signal listeners run once, after the drain.

afterEach(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'kelpie-listen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const app = (name: string) => fixture(`listen/${name}`);
let logs = 0;
const shutdownLog = () => join(dir, `shutdown-${++logs}.log`);
const lines = (file: string): string[] => {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

/** The TCP ports the processes listen on (from `ss`, as an operator would check). */
function listeningPorts(pids: readonly number[]): Set<number> {
  const out = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  const ports = new Set<number>();
  for (const line of out.split('\n')) {
    if (!pids.some((pid) => line.includes(`pid=${pid},`))) continue;
    const local = line.trim().split(/\s+/)[3] ?? '';
    ports.add(Number(local.slice(local.lastIndexOf(':') + 1)));
  }
  return ports;
}

/** The worker pids of a kelpie, from its "Booting worker" lines. */
const workerPids = (kp: KelpieProcess): number[] =>
  [...kp.log().matchAll(/Booting worker with pid: (\d+)/g)].map((m) => Number(m[1]));

/** Distinct x-pid values over fresh-connection requests, until `count` are seen (bounded). */
async function pidsUntil(url: string, count: number): Promise<Set<string>> {
  const pids = new Set<string>();
  for (let i = 0; i < 200 && pids.size < count; i++) {
    const replies = await Promise.all(Array.from({ length: 8 }, () => get(url)));
    for (const reply of replies) pids.add(String(reply.headers['x-pid']));
  }
  return pids;
}

const port = (kp: KelpieProcess) => Number(new URL(kp.url).port);

describe.each(['channel', 'patch'] as const)('listen capture (%s)', (mechanism) => {
  // vitest sets NODE_ENV=test; kelpie's own default is what is checked here.
  const env = { KELPIE_LISTEN_CAPTURE: mechanism, NODE_ENV: undefined };

  it('node:http: served on kelpie binds by two workers; listen callback, listening, address(); no other listener', async () => {
    const kp = await startKelpie(['-w', '2', '--log-level', 'debug', app('plain.mjs')], { env });
    await kp.waitForLog(
      new RegExp(mechanism === 'channel' ? 'tracing:net.server.listen channel' : 'prototype.listen wrapper'),
    );
    expect((await get(kp.url)).body).toMatch(/^plain \d+\n$/);
    expect(JSON.parse((await get(`${kp.url}/json`)).body)).toMatchObject({ ok: true });
    const echo = await get(`${kp.url}/echo`, {
      method: 'POST',
      body: '{"a":[1,2]}',
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(echo.body)).toEqual({ got: { a: [1, 2] } });
    expect((await get(`${kp.url}/nope`)).status).toBe(404);
    // A throwing handler: kelpie's 500, the worker goes on (a crash drains and is replaced).
    expect((await get(`${kp.url}/error`)).status).toBe(500);
    const seen = JSON.parse((await get(`${kp.url}/address`)).body);
    expect(seen.address).toEqual({ address: '127.0.0.1', family: 'IPv4', port: port(kp) });
    expect(seen.listening).toBe(true);
    expect(seen.env).toEqual({ PORT: String(port(kp)), HOST: '127.0.0.1', NODE_ENV: 'production' });
    expect(kp.stdout()).toMatch(/plain listening \{"address":"127\.0\.0\.1","family":"IPv4","port":\d+\} true/);
    expect(kp.stdout()).toMatch(/plain listening event/);
    expect(kp.log()).toMatch(/The app's listen on port \d+ \(host 0\.0\.0\.0\) is served on kelpie's binds/);
    expect((await pidsUntil(kp.url, 2)).size).toBe(2);
    expect([...listeningPorts([kp.pid, ...workerPids(kp)])]).toEqual([port(kp)]);
  });

  it('Express 5 app.listen: routes, JSON body, 404, 500; TERM during a slow request: it completes, then the app shutdown runs once per worker', async () => {
    const log = shutdownLog();
    const kp = await startKelpie(['-w', '2', app('express.mjs')], { env: { ...env, SHUTDOWN_LOG: log } });
    expect((await get(kp.url)).body).toMatch(/^express \d+\n$/);
    const echo = await get(`${kp.url}/echo`, {
      method: 'POST',
      body: '{"x":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(echo.body)).toEqual({ got: { x: 1 } });
    expect((await get(`${kp.url}/nope`)).status).toBe(404);
    expect((await get(`${kp.url}/error`)).status).toBe(500);
    expect((await pidsUntil(kp.url, 2)).size).toBe(2);
    expect([...listeningPorts([kp.pid, ...workerPids(kp)])]).toEqual([port(kp)]);
    const slow = await started(`${kp.url}/slow?ms=1500`);
    kp.signal('SIGTERM');
    expect(await slow.body).toBe('slow done\n');
    const finishedAt = Date.now();
    expect((await kp.exited(20_000)).code).toBe(0);
    const runs = lines(log);
    expect(runs).toHaveLength(2);
    expect(new Set(runs.map((line) => line.split(' ')[1])).size).toBe(2);
    // The app's shutdown ran after the slow request's response (within a clock tick or two).
    expect(Math.min(...runs.map((line) => Number(line.split(' ')[2])))).toBeGreaterThanOrEqual(finishedAt - 50);
    expect(kp.log()).not.toMatch(/Worker \(pid:\d+\) exited with code/);
  });
});

describe('apps that start their own server', () => {
  it('Koa app.listen and Hono serve(): served by kelpie', async () => {
    for (const name of ['koa.mjs', 'hono.mjs']) {
      const kp = await startKelpie(['-w', '2', app(name)]);
      expect((await get(kp.url)).body).toMatch(new RegExp(`^${name.split('.')[0]} \\d+\\n$`));
      expect(JSON.parse((await get(`${kp.url}/json`)).body)).toMatchObject({ ok: true });
      expect((await pidsUntil(kp.url, 2)).size).toBe(2);
      expect([...listeningPorts([kp.pid, ...workerPids(kp)])]).toEqual([port(kp)]);
      await kp.stop();
    }
  });

  it('Fastify listen on localhost (two addresses, two servers): one app served; its close path runs; the worker ends without process.exit', async () => {
    const log = shutdownLog();
    const kp = await startKelpie(['-w', '2', '--log-level', 'debug', app('fastify.mjs')], {
      env: { SHUTDOWN_LOG: log },
    });
    expect((await get(kp.url)).body).toMatch(/^fastify \d+\n$/);
    const echo = await get(`${kp.url}/echo`, {
      method: 'POST',
      body: '{"y":2}',
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(echo.body)).toEqual({ got: { y: 2 } });
    expect((await get(`${kp.url}/error`)).status).toBe(500);
    expect([...listeningPorts([kp.pid, ...workerPids(kp)])]).toEqual([port(kp)]);
    expect(kp.log()).not.toMatch(/second HTTP server/);
    const slow = await started(`${kp.url}/slow?ms=1000`);
    kp.signal('SIGTERM');
    expect(await slow.body).toBe('slow done\n');
    expect((await kp.exited(20_000)).code).toBe(0);
    expect(lines(log).filter((line) => line.startsWith('fastify-sigterm'))).toHaveLength(2);
    expect(lines(log).filter((line) => line.startsWith('fastify-onclose'))).toHaveLength(2);
    expect(kp.log()).not.toMatch(/Graceful timeout/);
  });

  it('a file that listens only when run directly (require.main === module, argv[1]) is run as the main module', async () => {
    const cjs = await startKelpie(['-w', '1', app('main-guard.cjs')]);
    expect((await get(cjs.url)).body).toMatch(/^guarded true \d+\n$/);
    // It exports the same app it listens with: nothing to warn about.
    expect(cjs.log()).not.toMatch(/WARNING/);
    await cjs.stop();
    const esm = await startKelpie(['-w', '1', app('main-guard.mjs')]);
    expect((await get(esm.url)).body).toMatch(/^guarded-esm \d+\n$/);
  });

  it('a server started after an asynchronous bootstrap (NestJS main.js) is waited for', async () => {
    const kp = await startKelpie(['-w', '1', app('late-listen.cjs')], { env: { BOOT_MS: '500' } });
    expect((await get(kp.url)).body).toMatch(/^late \d+\n$/);
  });

  it('a bootstrap that fails before it listens is an app-load error (exit 4), not a crash loop', async () => {
    const kp = await startKelpie(['-w', '1', app('boot-fails.cjs')], { waitFor: 'nothing' });
    expect((await kp.exited(20_000)).code).toBe(4);
    expect(kp.log()).toMatch(/Unhandled promise rejection while the app was loading/);
    expect(kp.log()).toMatch(/cannot reach the database/);
    expect(kp.countLog(/Booting worker with pid/)).toBe(1);
  });

  it('quick stop (INT): the app shutdown does not run', async () => {
    const log = shutdownLog();
    const kp = await startKelpie(['-w', '1', app('plain.mjs')], { env: { SHUTDOWN_LOG: log } });
    kp.signal('SIGINT');
    await kp.exited(10_000);
    expect(lines(log)).toEqual([]);
  });

  it("process.exit(1) in the app's shutdown is a normal worker exit", async () => {
    const log = shutdownLog();
    const kp = await startKelpie(['-w', '1', app('plain.mjs')], { env: { SHUTDOWN_LOG: log, EXIT_CODE: '1' } });
    kp.signal('SIGTERM');
    expect((await kp.exited(20_000)).code).toBe(0);
    expect(lines(log).map((line) => line.split(' ')[0])).toEqual(['plain-sigterm', 'plain-closed']);
  });

  it('an app shutdown that never ends is explained after 5 s and cut at --graceful-timeout', async () => {
    const log = shutdownLog();
    const kp = await startKelpie(['-w', '1', '--graceful-timeout', '7', app('plain.mjs')], {
      env: { SHUTDOWN_LOG: log, HOLD: '1' },
    });
    kp.signal('SIGTERM');
    await kp.waitForLog(
      /The app's own shutdown \(its signal listener\) is still running after 5 s: .*it holds .*Timeout/,
      {
        timeoutMs: 15_000,
      },
    );
    await kp.waitForLog(/Graceful timeout \(7s\) reached/, { timeoutMs: 15_000 });
    expect((await kp.exited(15_000)).code).toBe(0);
    expect(lines(log).map((line) => line.split(' ')[0])).toEqual(['plain-sigterm']);
  });

  it('-e NODE_ENV and -e PORT keep their values in workers', async () => {
    const kp = await startKelpie(['-w', '1', '-e', 'NODE_ENV=development', '-e', 'PORT=1234', app('plain.mjs')]);
    expect(JSON.parse((await get(`${kp.url}/address`)).body).env).toEqual({
      PORT: '1234',
      HOST: '127.0.0.1',
      NODE_ENV: 'development',
    });
    expect(kp.log()).not.toMatch(/NODE_ENV is not set/);
  });

  it("TLS and HTTP/2 are kelpie's: an HTTP/2 request reaches the app's own plain http server", async () => {
    const certs = await makeCertificates();
    try {
      const kp = await startKelpie(['-w', '1', ...tlsArgs(certs, 'h2,h1'), app('plain.mjs')]);
      const session = http2Connect(kp.url, { ca: certs.read(certs.ca) });
      session.on('error', () => {});
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/json' });
        let text = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          text += chunk;
        });
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
      });
      session.close();
      expect(JSON.parse(body)).toMatchObject({ ok: true });
      expect(kp.url).toMatch(/^https:/);
    } finally {
      rmSync(certs.dir, { recursive: true, force: true });
    }
  });

  it("forwarded headers reach the app's server from trusted peers only (--forwarded-allow-ips)", async () => {
    const forwarded = {
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
    };
    const trusting = await startKelpie(['-w', '1', app('plain.mjs')]);
    expect(JSON.parse((await get(`${trusting.url}/headers`, { headers: forwarded })).body)).toMatchObject(forwarded);
    await trusting.stop();
    const strict = await startKelpie(['-w', '1', '--forwarded-allow-ips', '10.0.0.1', app('plain.mjs')]);
    const seen = JSON.parse((await get(`${strict.url}/headers`, { headers: forwarded })).body);
    expect(Object.keys(seen).filter((name) => name.startsWith('x-forwarded'))).toEqual([]);
  });

  it('a second HTTP server on another port: refused with a warning by default; --extra-listen bind opens it', async () => {
    const adminPort = await freePort();
    const kp = await startKelpie(['-w', '1', app('extra-listen.mjs')], { env: { ADMIN_PORT: String(adminPort) } });
    expect((await get(kp.url)).body).toMatch(/^main \d+\n$/);
    expect(kp.log()).toMatch(
      new RegExp(`second HTTP server on port ${adminPort} \\(host 127\\.0\\.0\\.1\\): not opened`),
    );
    // It reports what it asked for, not kelpie's address: it is reachable nowhere.
    await waitUntil(() => kp.stdout().includes('admin listening'), { what: "the admin server's listen callback" });
    expect(kp.stdout()).toContain(`admin listening true {"address":"127.0.0.1","family":"IPv4","port":${adminPort}}`);
    await expect(get(`http://127.0.0.1:${adminPort}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect([...listeningPorts([kp.pid, ...workerPids(kp)])]).toEqual([port(kp)]);
    await kp.stop();

    // Every worker binds it where Node has SO_REUSEPORT; elsewhere one worker holds it.
    const reusePort = reusePortSupported();
    const bound = await startKelpie(['-w', '2', '--extra-listen', 'bind', app('extra-listen.mjs')], {
      env: { ADMIN_PORT: String(adminPort) },
    });
    expect(bound.log()).toMatch(new RegExp(`second HTTP server on port ${adminPort} .*opened as asked`));
    expect((await get(`http://127.0.0.1:${adminPort}/`)).body).toMatch(/^admin \d+\n$/);
    expect((await get(bound.url)).body).toMatch(/^main \d+\n$/);
    if (reusePort) {
      expect(bound.log()).toMatch(/each worker with SO_REUSEPORT/);
      expect((await pidsUntil(`http://127.0.0.1:${adminPort}/`, 2)).size).toBe(2);
    } else {
      expect(bound.log()).toMatch(/one worker only can hold the port/);
    }
  });

  it('a module that exports an app and starts its server is served once, with a warning', async () => {
    const kp = await startKelpie(['-w', '1', app('both.mjs')]);
    expect((await get(kp.url)).body).toMatch(/^both \d+\n$/);
    expect(kp.countLog(/exports an app \("default"\) and also started its own server/)).toBe(1);
    expect([...listeningPorts([kp.pid, ...workerPids(kp)])]).toEqual([port(kp)]);
  });

  it('a module that neither exports an app nor starts a server: an error that says both, at once when it has nothing left to do, else at --timeout; a handler build: the command that works', async () => {
    const none = await startKelpie(['-w', '1', app('no-server.mjs')], { waitFor: 'nothing' });
    expect((await none.exited(20_000)).code).toBe(4);
    expect(none.log()).toMatch(
      /exports no usable app \(.*found: version: number\) and started no server of its own \(it has nothing left to do that could start one\)/,
    );
    const busy = await startKelpie(['-w', '1', '--timeout', '2', app('never-listens.mjs')], { waitFor: 'nothing' });
    expect((await busy.exited(20_000)).code).toBe(4);
    expect(busy.log()).toMatch(/started no server of its own within 2 s \(--timeout\)/);
    const handler = await startKelpie(['-w', '1', app('handler-only.mjs')], { waitFor: 'nothing' });
    expect((await handler.exited(20_000)).code).toBe(4);
    expect(handler.log()).toMatch(/exports a request handler "handler" .*: run kelpie .*handler-only\.mjs:handler/);
  });

  it('an app that clusters itself gets an error that says kelpie starts the processes', async () => {
    const kp = await startKelpie(['-w', '1', app('clustered.cjs')], { waitFor: 'nothing' });
    expect((await kp.exited(20_000)).code).toBe(4);
    expect(kp.log()).toMatch(/The app calls cluster\.fork\(\): kelpie starts the worker processes itself \(-w N/);
  });

  it('--preload: the app loads in the arbiter too, where address() names the binds and its signal listeners never run', async () => {
    const log = shutdownLog();
    const kp = await startKelpie(['-w', '1', '--preload', app('express.mjs')], { env: { SHUTDOWN_LOG: log } });
    expect(kp.log()).toMatch(/Preloaded/);
    expect((await get(kp.url)).body).toMatch(/^express \d+\n$/);
    kp.signal('SIGTERM');
    expect((await kp.exited(20_000)).code).toBe(0);
    // The worker's, once; the arbiter's copy of the app never heard the signal.
    expect(lines(log).map((line) => line.split(' ')[1])).toEqual(workerPids(kp).map(String));
    expect(kp.countLog(/Handling signal: term/)).toBe(1);
  });

  it('--check-config loads such an app in the arbiter without binding its port', async () => {
    // The port is taken: a listen that really bound would fail with EADDRINUSE (an uncaught error).
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port: wanted } = taken.address() as AddressInfo;
      const kp = await startKelpie(['--check-config', app('late-listen.cjs')], {
        waitFor: 'nothing',
        env: { LATE_PORT: String(wanted) },
      });
      expect((await kp.exited(20_000)).code).toBe(0);
      expect(kp.stdout()).toMatch(/Configuration OK/);
    } finally {
      taken.close();
    }
  });

  it('HUP and --max-requests recycling under load: 0 failed requests', async () => {
    const kp = await startKelpie([
      '-w',
      '2',
      '--max-requests',
      '150',
      '--max-requests-jitter',
      '30',
      app('express.mjs'),
    ]);
    const load = startLoad(kp.url, { maxMs: 40_000 });
    await load.after(300);
    kp.signal('SIGHUP');
    await kp.waitForLog(/Hang up: Master/);
    await waitUntil(() => kp.countLog(/Autorestarting worker after current request/) >= 4, {
      timeoutMs: 40_000,
      what: 'four recycled workers',
    });
    const stats = await load.stop();
    expect(stats.failures).toEqual([]);
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(300);
  });
});

describe('every worker class', () => {
  it('-k sync and -k threads serve the app server', async () => {
    for (const klass of ['sync', 'threads']) {
      const kp = await startKelpie(['-w', '1', '-k', klass, '--threads', '2', app('express.mjs')]);
      expect((await get(kp.url)).body).toMatch(/^express \d+\n$/);
      expect(JSON.parse((await get(`${kp.url}/json`)).body)).toMatchObject({ ok: true });
      await kp.stop();
    }
  });

  it('-k threads: an app that changes directory gets an error naming -k async', async () => {
    const kp = await startKelpie(['-w', '1', '-k', 'threads', app('chdir.cjs')], { waitFor: 'nothing' });
    expect((await kp.exited(20_000)).code).toBe(4);
    expect(kp.log()).toMatch(/cannot run in a worker thread.*-k async/);
  });

  it("-k ws: the app server's upgrade listeners (a ws WebSocketServer({ server })) get the upgrades; -k async refuses them with 426", async () => {
    const kp = await startKelpie(['-w', '1', '-k', 'ws', app('own-websockets.mjs')]);
    const ws = new WebSocket(kp.url.replace('http:', 'ws:'));
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('hello'));
      ws.once('message', (data) => resolve(String(data)));
      ws.once('error', reject);
    });
    ws.close();
    expect(reply).toBe('echo hello');
    await kp.stop();
    const plain = await startKelpie(['-w', '1', app('own-websockets.mjs')]);
    const refused = await new Promise<number>((resolve) => {
      const client = new WebSocket(plain.url.replace('http:', 'ws:'));
      client.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      client.once('error', () => resolve(-1));
    });
    expect(refused).toBe(426);
  });

  it('-k ws: socket.io attached to the app server, default transports (polling, then the upgrade)', async () => {
    const kp = await startKelpie(['-w', '1', '-k', 'ws', app('own-socketio.mjs')]);
    const client = io(kp.url, { reconnection: false });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('connect_error', reject);
      });
      const reply = await client.timeout(10_000).emitWithAck('ping', 'one');
      expect(reply).toBe('pong one');
      await waitUntil(() => client.io.engine.transport.name === 'websocket', { what: 'the upgrade to WebSocket' });
      expect(await client.timeout(10_000).emitWithAck('ping', 'two')).toBe('pong two');
    } finally {
      client.close();
    }
  });
});
