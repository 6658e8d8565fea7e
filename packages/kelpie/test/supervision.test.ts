import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultBin, type KelpieProcess, processAlive, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fixture, get, started } from './helpers.js';

// Supervision (issue 17, items 1, 2 and part of 7): a worker that starts retiring is replaced at
// once, workers that die young are restarted with a growing delay, and spawning many workers
// never keeps the arbiter from handling a signal.

afterEach(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'kelpie-sup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const app = fixture('fault-app.mjs');

/** The promise, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Where a line matching `pattern` starts in the log (-1 when absent). */
const at = (kp: KelpieProcess, pattern: RegExp): number => kp.log().search(pattern);

describe('a worker that starts retiring is replaced at once (item 1)', () => {
  it('uncaught exception: the replacement serves while the old worker drains; the old one stops at the crash drain deadline', async () => {
    // --graceful-timeout stays at its 30 s default: the crashed worker must not hold capacity that
    // long. --worker-min-uptime 0: this young worker's crash is not a crash loop (no restart delay).
    const kp = await startKelpie(['-w', '1', '--worker-min-uptime', '0', app]);
    const old = (await get(kp.url)).body;
    const inFlight = await started(`${kp.url}/sleep?ms=1500`);
    const hung = get(`${kp.url}/crash`).catch((error: Error) => error);
    await kp.waitForLog(/\[ERROR\] Uncaught exception in worker/);
    const crashedAt = Date.now();

    const next = await within(get(kp.url), 20_000, 'a request after the crash');
    const servedIn = Date.now() - crashedAt;
    expect(next.body).not.toBe(old);
    // The arbiter started the replacement on the worker's word, 5 s before the worker exited.
    const retiring = new RegExp(
      `Worker \\(pid:${old}\\) is retiring after an uncaught exception: starting its replacement`,
    );
    await kp.waitForLog(retiring);
    await kp.waitForLog(new RegExp(`Worker exiting \\(pid: ${old}\\)`), { timeoutMs: 20_000 });
    const exitedIn = Date.now() - crashedAt;
    expect(at(kp, retiring)).toBeLessThan(at(kp, new RegExp(`Worker exiting \\(pid: ${old}\\)`)));
    expect(kp.log()).toMatch(new RegExp(`Booting worker with pid: ${next.body}`));
    // The request in flight at the crash finished; the one that never answers was cut at the deadline.
    expect(inFlight.status).toBe(200);
    expect(await inFlight.body).toMatch(new RegExp(`slept in ${old}`));
    expect(await hung).toBeInstanceOf(Error);
    expect(kp.log()).toMatch(/\[WARNING\] Drain deadline after an uncaught exception \(5s\) reached/);
    // Loose bounds that only catch the old behaviour (the whole --graceful-timeout, 30 s).
    expect(servedIn).toBeLessThan(20_000);
    expect(exitedIn).toBeLessThan(20_000);
    console.log(`replacement served ${servedIn} ms after the crash; the old worker exited after ${exitedIn} ms`);
  }, 60_000);

  it('--max-requests: the replacement starts as the limit is reached, so a long request does not hold the others', async () => {
    const kp = await startKelpie(['-w', '1', '--max-requests', '2', app]);
    const old = (await get(kp.url)).body;
    // The second request reaches the limit and stays in flight for 15 s.
    const slow = await started(`${kp.url}/sleep?ms=15000`);
    await kp.waitForLog(/Autorestarting worker after current request\./);
    const t0 = Date.now();
    const slowBody = slow.body.then(() => 'slow');
    const next = await Promise.race([get(kp.url), slowBody]);
    const servedIn = Date.now() - t0;
    expect(next, 'the next request waited for the slow one').not.toBe('slow');
    expect((next as { body: string }).body).not.toBe(old);
    expect(await slow.body).toMatch(new RegExp(`slept in ${old}`));
    expect(kp.log()).toMatch(new RegExp(`Worker \\(pid:${old}\\) is retiring \\(--max-requests\\)`));
    console.log(`--max-requests: the replacement served ${servedIn} ms after the limit was reached`);
  }, 60_000);

  it('kelpie ctl worker kill: the replacement serves while the old worker finishes a long request', async () => {
    const socket = join(dir, 'k.ctl');
    const kp = await startKelpie(['-w', '1', '--control-socket', socket, app]);
    const old = (await get(kp.url)).body;
    const slow = await started(`${kp.url}/sleep?ms=15000`);
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [defaultBin(), 'ctl', '--control-socket', socket, 'worker', 'kill', old],
        (error, out) => (error ? reject(error) : resolve(out)),
      ),
    );
    expect(stdout).toMatch(/is stopping; a new one will replace it/);
    const next = await Promise.race([get(kp.url), slow.body.then(() => 'slow')]);
    expect(next, 'the next request waited for the slow one').not.toBe('slow');
    expect((next as { body: string }).body).not.toBe(old);
    expect(await slow.body).toMatch(new RegExp(`slept in ${old}`));
  }, 60_000);

  it('TTOU starts no replacement, and a whole-server TERM starts none either', async () => {
    const kp = await startKelpie(['-w', '2', app]);
    const booted = () => kp.countLog(/Booting worker with pid/);
    expect(booted()).toBe(2);
    kp.signal('SIGTTOU');
    await kp.waitForLog(/Number of workers changed from 2 to 1/);
    await kp.waitForLog(/Worker exiting/);
    const inFlight = await started(`${kp.url}/sleep?ms=1500`);
    const before = kp.log().length;
    kp.signal('SIGTERM');
    expect(await inFlight.body).toMatch(/slept in/);
    expect(await kp.exited()).toEqual({ code: 0, signal: null });
    expect(booted()).toBe(2);
    expect(kp.log().slice(before)).not.toMatch(/is retiring/);
  }, 60_000);
});

describe('crash-loop backoff (item 2)', () => {
  const quickExit =
    /Worker \(pid:(\d+)\) (?:exited|crashed) ([\d.]+) s after it started; its (\d+)(?:st|nd|rd|th) quick exit in a row: restarting it in ([\d.]+) s/g;
  const quickExits = (kp: KelpieProcess) =>
    [...kp.log().matchAll(quickExit)].map((m) => ({ pid: Number(m[1]), n: Number(m[3]), delay: Number(m[4]) }));

  it('workers that die right after boot are restarted with growing delays, logged and counted on /metrics', async () => {
    const kp = await startKelpie(
      [
        '-w',
        '2',
        '--worker-restart-delay',
        '0.2',
        '--worker-restart-delay-max',
        '1',
        '--metrics-bind',
        '127.0.0.1:0',
        app,
      ],
      { env: { FAULT_DIE_AFTER_MS: '50' }, waitFor: 'listening' },
    );
    // 0.2 s, then x1.5 each time: 0.3, 0.45, 0.675 (the 4th), ... capped at 1 s.
    await kp.waitForLog(/its 4th quick exit in a row: restarting it in 0\.7 s/, { timeoutMs: 30_000 });
    await kp.waitForLog(/quick exit in a row: restarting it in 1\.0 s/, { timeoutMs: 30_000 });
    const delays = quickExits(kp);
    expect(delays.find((d) => d.n === 1)?.delay).toBe(0.2);
    expect(delays.find((d) => d.n === 2)?.delay).toBe(0.3);
    expect(Math.max(...delays.map((d) => d.delay))).toBe(1);
    // At the cap, each of the two slots boots at most once a second: 8 boots take 3 s or more
    // (one slot has 4 of them, 3 delays apart). Without the backoff, 8 boots take about 1.4 s.
    const from = kp.countLog(/Booting worker with pid/);
    const t0 = Date.now();
    await waitUntil(() => kp.countLog(/Booting worker with pid/) >= from + 8, {
      timeoutMs: 60_000,
      what: '8 more boots',
    });
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(2500);
    console.log(`crash loop at the cap: 8 boots in ${elapsed} ms (${((8 * 1000) / elapsed).toFixed(1)}/s)`);
    const base = (await kp.waitForLog(/Metrics at: (http:\/\/\S+)\/metrics/))[1] as string;
    const metrics = (await get(`${base}/metrics`)).body;
    const counted = Number(/^kelpie_worker_restart_delays_total (\d+)/m.exec(metrics)?.[1]);
    expect(counted).toBeGreaterThanOrEqual(delays.length);
    expect(metrics).toMatch(/kelpie_worker_restarts_total\{reason="crash"\} \d+/);
  }, 120_000);

  it('TERM during a backoff stops the server at once; the pending restart is cancelled', async () => {
    const kp = await startKelpie(['-w', '1', '--worker-restart-delay', '60', '--worker-restart-delay-max', '60', app], {
      env: { FAULT_DIE_AFTER_MS: '50' },
      waitFor: 'listening',
    });
    await kp.waitForLog(/its 1st quick exit in a row: restarting it in 60\.0 s/, { timeoutMs: 30_000 });
    const booted = kp.countLog(/Booting worker with pid/);
    await kp.waitForLog(/Worker exiting/);
    const t0 = Date.now();
    kp.signal('SIGTERM');
    expect(await kp.exited(15_000)).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(kp.countLog(/Booting worker with pid/)).toBe(booted);
  }, 60_000);

  it('a handler that calls process.exit(1) backs off; a worker that lived past --worker-min-uptime starts the count again', async () => {
    const kp = await startKelpie(['-w', '1', '--worker-min-uptime', '6', '--worker-restart-delay', '0.5', app]);
    const serving = async (not: string) =>
      waitUntil(
        async () => {
          const reply = await get(kp.url).catch(() => undefined);
          return reply && reply.body !== not ? reply.body : undefined;
        },
        { timeoutMs: 30_000, what: 'a new worker serving' },
      );
    let pid = (await get(kp.url)).body;
    for (const [n, delay] of [
      ['1st', '0.5'],
      ['2nd', '0.8'],
    ] as const) {
      await get(`${kp.url}/exit`).catch(() => undefined);
      await kp.waitForLog(
        new RegExp(
          `Worker \\(pid:${pid}\\) exited [\\d.]+ s after it started; its ${n} quick exit in a row: restarting it in ${delay} s`,
        ),
      );
      pid = await serving(pid);
    }
    // This one outlives --worker-min-uptime (6 s) before it exits: no delay, and the count starts again.
    expect(await (await started(`${kp.url}/sleep?ms=6500`)).body).toMatch(new RegExp(`slept in ${pid}`));
    await get(`${kp.url}/exit`).catch(() => undefined);
    await kp.waitForLog(new RegExp(`Worker \\(pid:${pid}\\) exited with code 1`));
    const old = pid;
    pid = await serving(pid);
    expect(kp.log()).not.toMatch(new RegExp(`Worker \\(pid:${old}\\) exited [\\d.]+ s after it started`));
    await get(`${kp.url}/exit`).catch(() => undefined);
    await kp.waitForLog(new RegExp(`Worker \\(pid:${pid}\\) exited [\\d.]+ s after it started; its 1st quick exit`));
  }, 90_000);

  it('limits are checked: a delay above the longest timer is refused with the allowed range', async () => {
    const kp = await startKelpie(['--worker-restart-delay-max', '3000000', app], { waitFor: 'nothing' });
    expect((await kp.exited()).code).toBe(2);
    expect(kp.log()).toMatch(/--worker-restart-delay-max.*3000000.*2147483/);
  });
});

describe('spawning yields to signals (item 7)', () => {
  it('a TERM that arrives while many workers are being spawned stops the spawning at once', async () => {
    const kp = await startKelpie(['-w', '64', '-c', fixture('term-while-spawning.config.mjs'), app], {
      waitFor: 'nothing',
    });
    expect(await kp.exited(60_000)).toEqual({ code: 0, signal: null });
    const forked = [...kp.log().matchAll(/test: forked (\d+)/g)].map((m) => Number(m[1]));
    // TERM was sent while the 3rd worker was being spawned; a few more may start in the same turn.
    expect(forked.length).toBeGreaterThanOrEqual(3);
    expect(forked.length).toBeLessThan(32);
    expect(forked.filter(processAlive)).toEqual([]);
    console.log(`-w 64, TERM sent while spawning the 3rd: ${forked.length} spawned in all`);
  }, 90_000);
});
