import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { get, rawExchange } from './http.js';
import { type KelpieProcess, startKelpie, waitUntil } from './process.js';

/** The app shapes of SPEC.md 1.5, plus the factory form of 1.1. */
export type AppShape = 'listener' | 'callback' | 'fetch' | 'fetch-object' | 'factory';
export const APP_SHAPES: readonly AppShape[] = ['listener', 'callback', 'fetch', 'fetch-object', 'factory'];

export interface ConformanceOptions {
  /**
   * The worker class, as `-k` takes it: a short name (`timed`), a package name, or a file
   * (a path relative to `cwd`, an absolute path, or a `file:` URL), with an optional `#Export`.
   */
  worker: string | URL;
  /** Extra command-line arguments for every kelpie the suite starts (`['--threads', '2']`). */
  args?: readonly string[];
  /** Extra environment for those processes. */
  env?: Record<string, string | undefined>;
  /** The project directory: where `kelpie` and a worker given by name are installed. Default: `process.cwd()`. */
  cwd?: string;
  /** The kelpie bin script; default: the `kelpie` package installed in `cwd`. */
  bin?: string;
  /** App shapes the class serves; default: all of them, as every class built on `this.app.listener` does. */
  shapes?: readonly AppShape[];
  /** The class serves WebSocket upgrades (SPEC.md 1.7); default false: upgrades must get a 426. */
  websocket?: boolean;
  /** Ids of checks to leave out (see `conformanceChecks(...).map((c) => c.id)`); say why in your test. */
  skip?: readonly string[];
  /** Run only the checks with these ids (while working on one). */
  only?: readonly string[];
}

/** One conformance check: a test to register with any runner. */
export interface Check {
  /** Stable id, for `skip`. */
  id: string;
  /** What it proves, as a test title. */
  title: string;
  /** An upper bound for the runner's test timeout. */
  timeoutMs: number;
  run(): Promise<void>;
}

const APPS_DIR = fileURLToPath(new URL('../apps/', import.meta.url));
const appFile = (name: string) => resolve(APPS_DIR, name);

/** How a suite names the class under test in its title: the name, or the file relative to `cwd`. */
export function workerLabel(worker: string | URL, cwd = process.cwd()): string {
  const argument = workerArgument(worker, cwd);
  return isAbsolute(argument) ? relative(cwd, argument) || argument : argument;
}

/** The `-k` value for the options: a file becomes an absolute path, a name stays as it is. */
export function workerArgument(worker: string | URL, cwd = process.cwd()): string {
  if (worker instanceof URL || worker.startsWith('file:')) return fileURLToPath(worker);
  const [file, exportName] = worker.split('#', 2) as [string, string | undefined];
  const isPath = file.startsWith('.') || isAbsolute(file) || /\.(c|m)?[jt]s$/.test(file);
  if (!isPath) return worker;
  return resolve(cwd, file) + (exportName ? `#${exportName}` : '');
}

const pidsIn = (kp: KelpieProcess, pattern: RegExp): number[] =>
  [...kp.log().matchAll(new RegExp(pattern.source, 'g'))].map((m) => Number(m[1]));

const bootedPids = (kp: KelpieProcess) => pidsIn(kp, /Booting worker with pid: (\d+)/);

interface Facts {
  shape: AppShape;
  pid: number;
  thread: number;
  startup: boolean;
}

async function facts(url: string): Promise<Facts> {
  const reply = await get(`${url}/`);
  assert.equal(reply.status, 200, `GET / answered ${reply.status}: ${reply.body}`);
  return JSON.parse(reply.body) as Facts;
}

/**
 * The conformance checks for a worker class, ready to register with a test runner (the
 * `@kelpie/worker-testkit/vitest` and `/node-test` entries do it in one call). Each check starts
 * its own kelpie processes on free loopback ports and stops them, pass or fail.
 */
export function conformanceChecks(options: ConformanceOptions): Check[] {
  const cwd = options.cwd ?? process.cwd();
  const worker = workerArgument(options.worker, cwd);
  const shapes = options.shapes ?? APP_SHAPES;
  const skip = new Set(options.skip ?? []);

  /** Run `body` against a kelpie started with the suite's class and `args`; always stop it. */
  async function withKelpie<T>(
    args: readonly string[],
    body: (kp: KelpieProcess) => Promise<T>,
    waitFor: 'ready' | 'nothing' = 'ready',
  ): Promise<T> {
    const kp = await startKelpie(['-k', worker, ...(options.args ?? []), ...args], {
      cwd,
      env: options.env,
      bin: options.bin,
      waitFor,
      timeoutMs: 30_000,
    });
    try {
      return await body(kp);
    } finally {
      await kp.stop(5_000).catch(() => kp.signal('SIGKILL'));
    }
  }

  const checks: Check[] = [];
  const only = options.only ? new Set(options.only) : undefined;
  const add = (id: string, title: string, timeoutMs: number, run: () => Promise<void>) => {
    if (!skip.has(id) && (!only || only.has(id))) checks.push({ id, title, timeoutMs, run });
  };

  add('boot', 'boots a worker that loads the app, runs its startup hook and serves', 40_000, () =>
    withKelpie(['-w', '1', appFile('listener.mjs')], async (kp) => {
      assert.match(kp.log(), /Using worker: \S+/);
      const seen = await facts(kp.url);
      assert.notEqual(seen.pid, kp.pid, 'the arbiter answered, not a worker');
      assert.ok(bootedPids(kp).includes(seen.pid), `pid ${seen.pid} is not a worker the arbiter booted`);
      assert.equal(seen.startup, true, 'the startup hook had not run when the worker served');
    }),
  );

  add('workers', 'runs -w 3 workers, all alive and serving', 40_000, () =>
    withKelpie(['-w', '3', appFile('listener.mjs')], async (kp) => {
      await kp.waitForLog(/Ready: 3 workers serving/);
      const booted = bootedPids(kp);
      assert.equal(new Set(booted).size, 3, `expected 3 worker pids, booted: ${booted.join(', ')}`);
      for (const pid of booted) process.kill(pid, 0);
      const replies = await Promise.all(Array.from({ length: 12 }, () => get(`${kp.url}/sleep?ms=50`)));
      for (const reply of replies) assert.equal(reply.status, 200);
      assert.deepEqual(bootedPids(kp), booted, 'a worker was replaced while serving');
    }),
  );

  for (const shape of shapes) {
    const module = shape === 'factory' ? `${appFile('factory.mjs')}:create()` : appFile(`${shape}.mjs`);
    add(`shape:${shape}`, `serves a ${shape} app (GET, POST body) and runs its shutdown hook on TERM`, 40_000, () =>
      withKelpie(['-w', '1', module], async (kp) => {
        const seen = await facts(kp.url);
        assert.equal(seen.shape, shape);
        assert.equal(seen.startup, true, 'the startup hook had not run when the worker served');
        const body = `conformance ${'x'.repeat(70_000)} end`;
        const echo = await get(`${kp.url}/echo`, { method: 'POST', body });
        assert.equal(echo.status, 200);
        assert.equal(echo.headers['x-method'], 'POST');
        assert.equal(echo.body, body, 'the request body came back changed');
        kp.signal('SIGTERM');
        assert.deepEqual(await kp.exited(15_000), { code: 0, signal: null });
        assert.match(kp.log(), new RegExp(`conformance: shutdown pid=${seen.pid}`), 'the shutdown hook did not run');
      }),
    );
  }

  add('heartbeat', '--timeout 1: a request waiting 2.5 s on I/O is not a timeout', 40_000, () =>
    withKelpie(['-w', '1', '--timeout', '1', appFile('listener.mjs')], async (kp) => {
      const before = await facts(kp.url);
      const reply = await get(`${kp.url}/sleep?ms=2500`);
      assert.equal(reply.status, 200);
      assert.doesNotMatch(kp.log(), /WORKER TIMEOUT/, 'a worker was killed while its event loop was free');
      assert.equal((await facts(kp.url)).pid, before.pid, 'the worker was replaced');
    }),
  );

  add('timeout', '--timeout 1: a blocked event loop gets WORKER TIMEOUT and a replacement that serves', 40_000, () =>
    withKelpie(['-w', '1', '--timeout', '1', appFile('listener.mjs')], async (kp) => {
      await facts(kp.url);
      const blocked = get(`${kp.url}/block`).catch((error: Error) => error);
      await kp.waitForLog(/conformance: blocking/);
      await kp.waitForLog(/WORKER TIMEOUT \(pid:\d+/, { timeoutMs: 15_000 });
      const outcome = await blocked;
      assert.ok(
        outcome instanceof Error || outcome.status >= 500,
        `the blocked request got ${outcome instanceof Error ? outcome.message : outcome.status}`,
      );
      await waitUntil(async () => (await get(`${kp.url}/`).catch(() => undefined))?.status === 200, {
        timeoutMs: 15_000,
        what: 'a replacement to serve after WORKER TIMEOUT',
      });
    }),
  );

  add(
    'graceful-stop',
    'TERM: in-flight requests finish, idle keep-alive connections close, every worker runs shutdown and exits 0',
    40_000,
    () =>
      withKelpie(['-w', '2', '--graceful-timeout', '30', '--keep-alive', '30', appFile('listener.mjs')], async (kp) => {
        // An idle keep-alive connection, which the drain must close rather than wait 30 s for.
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        const idleClosed = new Promise<void>((resolveIdle, reject) => {
          const req = httpRequest(`${kp.url}/`, { agent }, (res) => {
            res.resume();
            res.on('end', () => {
              const socket = req.socket;
              if (!socket || socket.destroyed) resolveIdle();
              else socket.once('close', () => resolveIdle());
            });
          });
          req.on('error', reject);
          req.end();
        });
        const slow = get(`${kp.url}/sleep?ms=1500&id=graceful`);
        await kp.waitForLog(/conformance: sleeping graceful/);
        kp.signal('SIGTERM');
        const reply = await slow;
        assert.equal(reply.status, 200);
        assert.equal(reply.body, 'slept 1500');
        assert.deepEqual(await kp.exited(10_000), { code: 0, signal: null }, 'kelpie did not exit 0 within 10 s');
        await idleClosed;
        agent.destroy();
        const stopped = new Set(pidsIn(kp, /conformance: shutdown pid=(\d+)/));
        for (const pid of bootedPids(kp)) assert.ok(stopped.has(pid), `worker ${pid} did not run its shutdown hook`);
      }),
  );

  add('graceful-timeout', '--graceful-timeout 1: a request outliving it is cut off and kelpie exits', 40_000, () =>
    withKelpie(['-w', '1', '--graceful-timeout', '1', appFile('listener.mjs')], async (kp) => {
      const slow = get(`${kp.url}/sleep?ms=30000&id=cut`).catch((error: Error) => error);
      await kp.waitForLog(/conformance: sleeping cut/);
      kp.signal('SIGTERM');
      await kp.exited(10_000);
      assert.ok((await slow) instanceof Error, 'the 30 s request was answered after --graceful-timeout');
    }),
  );

  add('quick-stop', 'INT: stops at once, without waiting for in-flight requests or running shutdown', 40_000, () =>
    withKelpie(['-w', '2', '--graceful-timeout', '30', appFile('listener.mjs')], async (kp) => {
      const slow = get(`${kp.url}/sleep?ms=30000&id=quick`).catch((error: Error) => error);
      await kp.waitForLog(/conformance: sleeping quick/);
      kp.signal('SIGINT');
      assert.deepEqual(await kp.exited(10_000), { code: 0, signal: null }, 'kelpie did not exit 0 within 10 s');
      assert.ok((await slow) instanceof Error, 'the in-flight request was answered');
      assert.doesNotMatch(kp.log(), /conformance: shutdown/, 'the shutdown hook ran on a quick stop');
    }),
  );

  add(
    'max-requests',
    '--max-requests 3: workers retire after 3 requests, are replaced, and no request fails',
    60_000,
    () =>
      withKelpie(['-w', '1', '--max-requests', '3', appFile('listener.mjs')], async (kp) => {
        const pids = new Set<number>();
        for (let i = 0; i < 10; i++) pids.add((await facts(kp.url)).pid);
        assert.match(
          kp.log(),
          /Autorestarting worker after current request\./,
          'no worker was recycled: does the class call countRequest() as each request starts (SPEC.md 2.13)?',
        );
        assert.ok(pids.size >= 3, `10 requests with --max-requests 3 came from ${pids.size} worker(s)`);
      }),
  );

  add('respawn', 'a worker killed with SIGKILL is replaced and the server keeps serving', 40_000, () =>
    withKelpie(['-w', '2', appFile('listener.mjs')], async (kp) => {
      const victim = (await facts(kp.url)).pid;
      process.kill(victim, 'SIGKILL');
      await kp.waitForLog(new RegExp(`Worker \\(pid:${victim}\\) was sent SIGKILL`));
      const replacement = await waitUntil(() => bootedPids(kp)[2], { timeoutMs: 15_000, what: 'a replacement worker' });
      await kp.waitForLog(new RegExp(`conformance: startup pid=${replacement}`), { timeoutMs: 15_000 });
      process.kill(replacement, 0);
      const replies = await Promise.all(Array.from({ length: 10 }, () => facts(kp.url)));
      for (const seen of replies) assert.notEqual(seen.pid, victim);
    }),
  );

  add('crash', 'an uncaught exception in app code is logged, and the server keeps serving', 40_000, () =>
    withKelpie(['-w', '1', appFile('listener.mjs')], async (kp) => {
      assert.equal((await get(`${kp.url}/crash`)).status, 200);
      await kp.waitForLog(/conformance: uncaught exception outside a request/);
      await waitUntil(async () => (await get(`${kp.url}/`).catch(() => undefined))?.status === 200, {
        timeoutMs: 15_000,
        what: 'the server to serve after the crash',
      });
    }),
  );

  add('errors', 'a throwing handler gets a 500, a malformed request a 400, and the worker keeps serving', 40_000, () =>
    withKelpie(['-w', '1', appFile('listener.mjs')], async (kp) => {
      const before = await facts(kp.url);
      const thrown = await get(`${kp.url}/throw`);
      assert.equal(thrown.status, 500);
      await kp.waitForLog(/Error handling request GET \/throw[\s\S]*conformance: the handler threw/);
      const malformed = await rawExchange(kp.url, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
      assert.match(malformed, /^HTTP\/1\.1 400 /);
      await kp.waitForLog(/Invalid request from ip=/);
      // Same process, and no other booted (a class with threads may answer from another thread).
      assert.equal((await facts(kp.url)).pid, before.pid, 'the worker was replaced');
      assert.equal(bootedPids(kp).length, 1, 'a worker was replaced');
    }),
  );

  add('app-load-error', 'an app that fails to load stops kelpie with exit code 4 and the reason', 40_000, () =>
    withKelpie(
      ['-w', '2', appFile('broken.mjs')],
      async (kp) => {
        assert.deepEqual(await kp.exited(20_000), { code: 4, signal: null });
        assert.match(kp.log(), /conformance: this app fails at import/);
        assert.match(kp.log(), /Reason: App failed to load\./);
      },
      'nothing',
    ),
  );

  if (options.websocket) {
    add('websocket', 'serves WebSocket handlers (echo) and closes sockets with 1001 on TERM', 40_000, () =>
      withKelpie(['-w', '1', appFile('listener.mjs')], async (kp) => {
        const ws = new WebSocket(`${kp.url.replace(/^http/, 'ws')}/ws`);
        const closed = new Promise<number>((resolveClose) => ws.once('close', (code) => resolveClose(code)));
        await new Promise<void>((resolveOpen, reject) => {
          ws.once('open', () => resolveOpen());
          ws.once('error', reject);
        });
        const echoed = new Promise<string>((resolveMessage) =>
          ws.once('message', (data) => resolveMessage(String(data))),
        );
        ws.send('conformance echo');
        assert.equal(await echoed, 'conformance echo');
        kp.signal('SIGTERM');
        assert.equal(await closed, 1001, 'a graceful stop must close WebSockets with 1001');
        assert.deepEqual(await kp.exited(10_000), { code: 0, signal: null });
      }),
    );
  } else {
    add('websocket', 'answers upgrade requests with 426 (no WebSocket support)', 40_000, () =>
      withKelpie(['-w', '1', appFile('listener.mjs')], async (kp) => {
        const reply = await rawExchange(
          kp.url,
          'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        );
        assert.match(reply, /^HTTP\/1\.1 426 /);
        assert.equal((await get(`${kp.url}/`)).status, 200);
      }),
    );
  }

  return checks;
}
