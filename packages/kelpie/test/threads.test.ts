import { startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type Facts, facts, fixture, get, started } from './helpers.js';

afterEach(stopAll);

const app = fixture('concurrency-app.js');

describe('-k threads', () => {
  it('runs two CPU-bound requests at once on two threads of one process', async () => {
    const kp = await startKelpie(['-k', 'threads', '--threads', '2', app]);
    expect(kp.log()).toMatch(/Using worker: threads/);
    expect(kp.log()).toMatch(/Serving with 2 threads/);
    // The first request's headers arrive once its handler runs; its thread is then busy.
    const first = await started(`${kp.url}/spin?ms=700`);
    const second = await started(`${kp.url}/spin?ms=700`);
    const a = JSON.parse(await first.body) as Facts;
    const b = JSON.parse(await second.body) as Facts;
    expect(a.pid).toBe(b.pid);
    expect(a.thread).not.toBe(b.thread);
    // They overlapped in time: the second started before the first ended.
    expect(b.started).toBeLessThan(a.ended);
  });

  it('-k sync with --threads 2 runs the threads worker class, as in Gunicorn', async () => {
    const kp = await startKelpie(['-k', 'sync', '--threads', '2', app]);
    expect(kp.log()).toMatch(/-k sync with --threads 2: using the threads worker class/);
    expect(kp.log()).toMatch(/Using worker: threads/);
    expect((await facts(kp.url)).status).toBe(200);
  });

  it('terminates a thread stuck past --timeout, answers its request with 503, and the other thread serves on', async () => {
    // 3 s, not 1: on a loaded machine a worker's own boot can take a second, and the timeout
    // applies to the process's heartbeat as much as to the stuck thread.
    const kp = await startKelpie(['-k', 'threads', '--threads', '2', '-t', '3', app]);
    const stuck = get(`${kp.url}/block`);
    await kp.waitForLog(/blocking in thread \d/);
    // While one thread spins, the other answers.
    const during = await waitUntil(
      async () => {
        const reply = await facts(`${kp.url}/`);
        return reply.status === 200 ? reply : undefined;
      },
      { what: 'an answer from the free thread' },
    );
    const match = await kp.waitForLog(/WORKER TIMEOUT \(pid:(\d+) thread:(\d)\)/);
    expect(Number(match[1])).toBe(during.pid);
    const reply = await stuck;
    expect(reply.status).toBe(503);
    expect(reply.body).toMatch(/did not finish within the worker timeout/);
    await kp.waitForLog(new RegExp(`Thread ${match[2]} replaced \\(pid: ${during.pid}\\)`));
    // The same process serves on, and the replacement thread answers too.
    const threads = await waitUntil(
      async () => {
        const replies = await Promise.all(Array.from({ length: 8 }, () => facts(`${kp.url}/work?ms=30`)));
        const seen = new Set(replies.map((r) => r.thread));
        return replies.every((r) => r.pid === during.pid) && [...seen].some((t) => t > 2) ? seen : undefined;
      },
      { what: 'the replacement thread to answer' },
    );
    expect([...threads].some((t) => t > 2)).toBe(true);
    expect(kp.countLog(/Booting worker with pid/)).toBe(1);
  });

  it('replaces a thread that dies of an uncaught exception', async () => {
    const kp = await startKelpie(['-k', 'threads', '--threads', '2', app]);
    const first = await facts(`${kp.url}/crash`);
    expect(first.status).toBe(200);
    await kp.waitForLog(/Uncaught exception in thread \d \(pid: \d+\)[\s\S]*crash outside a request/);
    await kp.waitForLog(/Thread \d replaced/);
    const after = await facts(`${kp.url}/`);
    expect(after.pid).toBe(first.pid);
  });

  it('counts --max-requests per process, over all its threads', async () => {
    const kp = await startKelpie(['-k', 'threads', '--threads', '2', '--max-requests', '6', app]);
    const replies = await Promise.all(Array.from({ length: 6 }, () => facts(`${kp.url}/work?ms=20`)));
    const pid = replies[0]?.pid;
    expect(replies.every((r) => r.pid === pid && r.status === 200)).toBe(true);
    await kp.waitForLog(/Autorestarting worker after current request/);
    const next = await waitUntil(
      async () => {
        const reply = await facts(`${kp.url}/`);
        return reply.pid !== pid ? reply : undefined;
      },
      { what: 'a new worker process' },
    );
    expect(next.status).toBe(200);
    expect(kp.countLog(/Booting worker with pid/)).toBe(2);
  });

  it('on TERM, every thread finishes its request before the process exits', async () => {
    const kp = await startKelpie(['-k', 'threads', '--threads', '2', app]);
    const first = await started(`${kp.url}/spin?ms=600`);
    const second = await started(`${kp.url}/spin?ms=600`);
    kp.signal('SIGTERM');
    const [a, b] = [JSON.parse(await first.body) as Facts, JSON.parse(await second.body) as Facts];
    expect(a.thread).not.toBe(b.thread);
    expect(await kp.exited()).toMatchObject({ code: 0 });
  });

  it('an app that fails to load in a thread stops the server with exit code 4', async () => {
    const kp = await startKelpie(['-k', 'threads', '--threads', '2', fixture('syntax-error.js')], {
      waitFor: 'nothing',
    });
    const exit = await kp.exited(20_000);
    expect(exit.code).toBe(4);
    expect(kp.log()).toMatch(/Failed to import the app module .*syntax-error\.js: SyntaxError/);
    expect(kp.log()).toMatch(/Reason: App failed to load\./);
  });

  it.each([['0'], ['-1'], ['two'], ['2.5'], ['5000']])('rejects --threads %s with a clear error', async (value) => {
    const kp = await startKelpie(['-k', 'threads', `--threads=${value}`, app], { waitFor: 'nothing' });
    const exit = await kp.exited(20_000);
    expect(exit.code).toBe(2);
    expect(kp.log()).toContain(`Invalid value for --threads: "${value}". Allowed: an integer from 1 to 1024.`);
  });
});

describe('--max-requests', () => {
  it('recycles an async worker after its share of requests', async () => {
    const kp = await startKelpie(['--max-requests', '3', app]);
    const pids = new Set<number>();
    for (let i = 0; i < 3; i++) pids.add((await facts(`${kp.url}/`)).pid);
    expect(pids.size).toBe(1);
    await kp.waitForLog(/Autorestarting worker after current request/);
    const next = await waitUntil(
      async () => {
        const reply = await facts(`${kp.url}/`);
        return pids.has(reply.pid) ? undefined : reply;
      },
      { what: 'the replacement worker' },
    );
    expect(next.status).toBe(200);
  });
});
