import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KelpieProcess, type LoadStats, startKelpie, startLoad, stopAll, waitUntil } from '@kelpie/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

// Replacing workers under a bounded load of keep-alive and new connections (loopback only, at
// most 60 s and 100 000 requests per loop): no request may fail.

const dir = mkdtempSync(join(tmpdir(), 'kelpie-zero-loss-'));
const app = join(dir, 'app.mjs');
const version = (v: string) =>
  writeFileSync(
    app,
    [
      'const chunks = [];',
      'export default (req, res) => {',
      "  if (req.url === '/grow') chunks.push(Buffer.alloc(8 * 1024 * 1024, 1));",
      `  res.end('${v}');`,
      '};',
      '',
    ].join('\n'),
  );
const others: number[] = [];

afterEach(async () => {
  for (const pid of others.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await stopAll();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectNoFailures(stats: LoadStats): void {
  expect(stats.failures, JSON.stringify(stats.outcomes)).toEqual([]);
  expect(stats.failed).toBe(0);
  // Plain Node http clients, which do not retry: not even a reused connection may be reset.
  expect(stats.retried).toBe(0);
  expect(stats.ok).toBeGreaterThan(200);
}

/** The pid of the arbiter a USR2 started, from the old arbiter's log. */
async function newArbiter(kp: KelpieProcess): Promise<number> {
  const pid = Number((await kp.waitForLog(/Started a new arbiter \(pid: (\d+)\)/))[1]);
  others.push(pid);
  return pid;
}

describe('zero-loss worker replacement under load', () => {
  it('HUP: new workers with the new code take over; every response is old or new code, none fails', async () => {
    version('v1');
    const kp = await startKelpie(['-w', '2', app]);
    const load = startLoad(kp.url);
    await load.after(300);
    version('v2');
    kp.signal('SIGHUP');
    await kp.waitForLog(/Hang up: Master/);
    await waitUntil(() => kp.countLog(/Worker exiting/) >= 2, { what: 'the old workers to leave' });
    await load.after(300);
    const stats = await load.stop();
    expectNoFailures(stats);
    expect([...stats.bodies].sort()).toEqual(['v1', 'v2']);
  });

  it('--max-requests with jitter: workers are recycled again and again, none fails', async () => {
    version('v1');
    const kp = await startKelpie(['-w', '2', '--max-requests', '100', '--max-requests-jitter', '20', app]);
    const load = startLoad(kp.url);
    await waitUntil(() => kp.countLog(/Autorestarting worker after current request/) >= 6, {
      timeoutMs: 40_000,
      what: 'six recycled workers',
    });
    const stats = await load.stop();
    expectNoFailures(stats);
  });

  it('TTOU: removing workers under load loses nothing', async () => {
    version('v1');
    const kp = await startKelpie(['-w', '3', app]);
    const load = startLoad(kp.url);
    await load.after(200);
    kp.signal('SIGTTOU');
    await kp.waitForLog(/Number of workers changed from 3 to 2/);
    await load.after(200);
    kp.signal('SIGTTOU');
    await waitUntil(() => kp.countLog(/Worker exiting/) >= 2, { what: 'two workers to leave' });
    await load.after(200);
    expectNoFailures(await load.stop());
  });

  it('--max-worker-memory: a worker above the limit is replaced gracefully, none fails', async () => {
    version('v1');
    const kp = await startKelpie(['-w', '1', '--max-worker-memory', '120', app]);
    const load = startLoad(kp.url);
    for (let i = 0; i < 12; i++) await fetch(`${kp.url}/grow`).then((r) => r.text());
    await kp.waitForLog(/Worker \(pid:\d+\) uses \d+ MB, above --max-worker-memory 120 MB: replacing it/, {
      timeoutMs: 20_000,
    });
    await waitUntil(() => kp.countLog(/Booting worker with pid/) >= 2, { what: 'a replacement' });
    await load.after(300);
    expectNoFailures(await load.stop());
  });

  it('USR2, WINCH, TERM: the binary upgrade hands over to a new arbiter, which takes the pidfile; none fails', async () => {
    version('v1');
    const pidfile = join(dir, 'upgrade.pid');
    const kp = await startKelpie(['-w', '2', '-p', pidfile, app]);
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(kp.pid));
    const load = startLoad(kp.url);
    await load.after(200);
    version('v2');
    kp.signal('SIGUSR2');
    const next = await newArbiter(kp);
    await kp.waitForLog(new RegExp(`\\[${next}\\] \\[INFO\\] Ready: 2 workers serving`));
    expect(readFileSync(`${pidfile}.2`, 'utf8').trim()).toBe(String(next));
    kp.signal('SIGWINCH');
    await waitUntil(() => kp.countLog(new RegExp(`\\[(?!${next}\\])\\d+\\] \\[INFO\\] Worker exiting`)) >= 2, {
      what: 'the old workers to stop after WINCH',
    });
    await load.after(200);
    kp.signal('SIGTERM');
    expect(await kp.exited()).toEqual({ code: 0, signal: null });
    // The old arbiter has exited; the new one still writes to the same stderr.
    await waitUntil(() => new RegExp(`\\[${next}\\] \\[INFO\\] Master has been promoted\\.`).test(kp.log()), {
      what: 'the new arbiter to be promoted',
    });
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(next));
    await load.after(200);
    const stats = await load.stop();
    expectNoFailures(stats);
    expect(stats.bodies.has('v2')).toBe(true);
    process.kill(next, 'SIGTERM');
    await waitUntil(
      () => {
        try {
          process.kill(next, 0);
          return false;
        } catch {
          return true;
        }
      },
      { what: 'the new arbiter to exit' },
    );
    expect(() => readFileSync(pidfile)).toThrow();
  });

  it('USR2 rolled back: HUP on the old arbiter and TERM on the new one; none fails', async () => {
    version('v1');
    const pidfile = join(dir, 'rollback.pid');
    const kp = await startKelpie(['-w', '2', '-p', pidfile, app]);
    const load = startLoad(kp.url);
    await load.after(200);
    kp.signal('SIGUSR2');
    const next = await newArbiter(kp);
    await kp.waitForLog(new RegExp(`\\[${next}\\] \\[INFO\\] Ready: 2 workers serving`));
    kp.signal('SIGWINCH');
    await kp.waitForLog(/graceful stop of workers/);
    await load.after(200);
    kp.signal('SIGHUP');
    await waitUntil(() => kp.countLog(new RegExp(`\\[(?!${next}\\])\\d+\\] \\[INFO\\] Booting worker`)) >= 4, {
      what: 'the old arbiter to start workers again',
    });
    process.kill(next, 'SIGTERM');
    await kp.waitForLog(new RegExp(`The new arbiter \\(pid: ${next}\\) exited`));
    await load.after(200);
    expectNoFailures(await load.stop());
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(kp.pid));
    expect(() => readFileSync(`${pidfile}.2`)).toThrow();
  });
});
