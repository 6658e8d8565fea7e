import { type LoadStats, processAlive, startLoad, stopAll, waitUntil } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAMEWORKS } from './frameworks.js';
import { bootedWorkers, readEvents, type Served, serve } from './helpers.js';

// Workers replaced under a bounded load (loopback, at most 60 s and a few thousand requests per
// loop) while the app is a framework's production entry that called its own listen(): no request
// may fail, and each retired worker runs the app's shutdown hook once.

const RECYCLED = FRAMEWORKS.filter((f) => f.entry === 'dist/main.js' || f.fixture === 'next');
const running: Served[] = [];

afterEach(async () => {
  await stopAll();
  for (const served of running.splice(0)) served.cleanup();
});

function expectNoFailures(stats: LoadStats): void {
  expect(stats.failures, JSON.stringify(stats.outcomes)).toEqual([]);
  expect(stats.failed).toBe(0);
  expect(stats.retried).toBe(0);
  expect(stats.ok).toBeGreaterThan(100);
}

/** Once they are gone, each retired worker wrote its shutdown line exactly once. */
async function expectShutdownOnce(served: Served, shutdown: string, retired: number[]): Promise<void> {
  await waitUntil(() => retired.every((pid) => !processAlive(pid)), { timeoutMs: 60_000, what: 'the workers to exit' });
  const lines = readEvents(served.events);
  for (const pid of retired) {
    const own = lines.filter((line) => line.pid === pid && line.event === shutdown);
    expect(own, `worker ${pid}`).toHaveLength(1);
  }
}

describe.each(RECYCLED.map((framework) => [framework.label, framework] as const))('%s', (_, framework) => {
  it('HUP under load: new workers take over, no request fails', async () => {
    const served = await serve(framework.fixture, framework.entry);
    running.push(served);
    const { kp } = served;
    const old = bootedWorkers(kp);
    const load = startLoad(kp.url, { path: '/json', maxRequests: 20_000, maxMs: 60_000 });
    await load.after(200);
    const from = kp.log().length;
    kp.signal('SIGHUP');
    await kp.waitForLog(/Hang up: Master/, { from });
    await waitUntil(() => bootedWorkers(kp, from).length >= 2 && old.every((pid) => !processAlive(pid)), {
      timeoutMs: 60_000,
      what: 'two new workers and the old two gone',
    });
    await load.after(200);
    expectNoFailures(await load.stop());
    await expectShutdownOnce(served, framework.shutdown, old);
  });

  it('--max-requests under load: workers are recycled again and again, no request fails', async () => {
    const served = await serve(framework.fixture, framework.entry, ['--max-requests', '150']);
    running.push(served);
    const { kp } = served;
    const load = startLoad(kp.url, { path: '/json', maxRequests: 20_000, maxMs: 60_000 });
    await waitUntil(() => kp.countLog(/Autorestarting worker after current request/) >= 4, {
      timeoutMs: 60_000,
      what: 'four recycled workers',
    });
    expectNoFailures(await load.stop());
    const recycled = [...kp.log().matchAll(/\[(\d+)\] \[INFO\] Autorestarting worker/g)].map((m) => Number(m[1]));
    await expectShutdownOnce(served, framework.shutdown, recycled);
  });
});
