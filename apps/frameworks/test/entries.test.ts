import { get, stopAll } from '@kelpie/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRAMEWORKS } from './frameworks.js';
import {
  bootedWorkers,
  listenersOf,
  processTree,
  readEvents,
  type Served,
  serve,
  servingPids,
  waitForEvent,
} from './helpers.js';

// Each framework's production entry, unchanged, under `kelpie -w 2` on loopback: the app calls
// its own listen(), and kelpie's sockets serve it. One kelpie per framework; the last test stops
// it with TERM during a slow request. Twice: with the listen capture Node's version gets by
// default (the diagnostics channel where Node has it), and with the listen() wrapper that older
// Node versions get (KELPIE_LISTEN_CAPTURE=patch), so both meet the real frameworks on every Node.

const CASES = FRAMEWORKS.flatMap((framework) =>
  (['default', 'patch'] as const).map(
    (capture) => [`${framework.label}, capture: ${capture}`, { ...framework, capture }] as const,
  ),
);

afterAll(stopAll);

describe.each(CASES)('%s', (_, framework) => {
  let served: Served;
  let url: string;

  beforeAll(async () => {
    const env = framework.capture === 'patch' ? { KELPIE_LISTEN_CAPTURE: 'patch' } : {};
    served = await serve(framework.fixture, framework.entry, [], env);
    url = served.kp.url;
  });
  afterAll(async () => {
    await served?.kp.stop();
    served?.cleanup();
  });

  it('answers its routes with the framework’s own responses', async () => {
    const hello = await get(`${url}/`);
    expect(hello.status).toBe(200);
    expect(hello.body).toBe(framework.hello);

    const json = await get(`${url}/json`);
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(json.body)).toEqual({ framework: framework.fixture, ok: true });

    const payload = { name: 'kelpie', list: [1, 2, 3], nested: { ok: true } };
    const echo = await get(`${url}/echo`, {
      method: 'POST',
      body: JSON.stringify(payload),
      headers: { 'content-type': 'application/json' },
    });
    expect(echo.status).toBe(200);
    expect(JSON.parse(echo.body)).toEqual({ echo: payload });

    framework.notFound(await get(`${url}/missing`));
    framework.serverError(await get(`${url}/error`));

    if (framework.staticFile !== undefined) {
      const file = await get(`${url}/static.txt`);
      expect(file.status).toBe(200);
      expect(file.body).toBe(framework.staticFile);
    }
    if (framework.page) {
      const page = await get(`${url}/ssr`);
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toMatch(framework.page);
    }
  });

  it('is served by both workers, and nothing listens but kelpie’s bind', async () => {
    const workers = bootedWorkers(served.kp);
    expect(workers).toHaveLength(2);
    expect([...(await servingPids(url))].sort()).toEqual([...workers].sort());

    const tree = processTree(served.kp.pid);
    for (const pid of workers) expect(tree.has(pid)).toBe(true);
    const bind = new URL(url).host;
    const listeners = await listenersOf(tree);
    const tcp = listeners.filter((l) => l.netid === 'tcp').map((l) => l.local);
    expect(tcp).toEqual([bind]);
    // kelpie's own control socket is the only unix socket.
    const unix = listeners.filter((l) => l.netid !== 'tcp').map((l) => l.local);
    for (const path of unix) expect(path).toMatch(/\/kelpie\.ctl$/);
  });

  it('TERM during a slow request: it completes, then the app’s shutdown hook runs once in each worker', async () => {
    const { kp, events } = served;
    const workers = bootedWorkers(kp);
    const slow = get(`${url}/slow?ms=2000`);
    const started = await waitForEvent(events, 'slow-start');
    // Workers ignore HUP (a terminal's hang-up reaches the whole process group), even where the
    // app listens for it: NestJS's enableShutdownHooks() does, with ten other signals.
    for (const pid of workers) process.kill(pid, 'SIGHUP');
    kp.signal('SIGTERM');

    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('slow done');
    expect(await kp.exited(60_000)).toEqual({ code: 0, signal: null });

    const lines = readEvents(events);
    for (const pid of workers) {
      const own = lines.filter((line) => line.pid === pid).map((line) => line.event);
      expect(
        own.filter((event) => event === framework.shutdown),
        `worker ${pid}: ${own.join(', ')}`,
      ).toHaveLength(1);
      if (pid === started.pid) {
        expect(own).toContain('slow-end');
        expect(own.indexOf('slow-end')).toBeLessThan(own.indexOf(framework.shutdown));
      }
    }
    expect(kp.log()).not.toMatch(/\[ERROR\]/);
  });
});
