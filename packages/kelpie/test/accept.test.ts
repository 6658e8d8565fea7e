import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KelpieProcess, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type Facts, fixture, get } from './helpers.js';

afterEach(stopAll);

const app = fixture('concurrency-app.js');

type Target = { url: string; socketPath?: string };

/** Open a keep-alive connection, make one request on it, and leave it open and idle. Resolves with the answering pid. */
function idleConnection(target: Target, sockets: Socket[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(target.url);
    const socket = target.socketPath ? connect(target.socketPath) : connect(Number(port), hostname);
    sockets.push(socket);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      // The body is chunked (no Content-Length on a keep-alive answer); the pid is all we need.
      const pid = /"pid":(\d+)/.exec(data)?.[1];
      if (pid) resolve(Number(pid));
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`the idle connection closed; got ${JSON.stringify(data)}`)));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

/** One request on a fresh connection: the pid that answered, or the error. */
async function attempt(target: Target): Promise<number | Error> {
  try {
    const reply = await get(`${target.url}/`, { socketPath: target.socketPath });
    if (reply.status !== 200) return new Error(`status ${reply.status}`);
    return (JSON.parse(reply.body) as Facts).pid;
  } catch (error) {
    return error as Error;
  }
}

describe('a worker at --worker-connections', () => {
  for (const kind of ['tcp', 'unix'] as const) {
    it(`stops accepting (${kind}): new connections go to a worker with room, and it accepts again once a slot frees`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'kelpie-accept-'));
      const socketPath = join(dir, 'k.sock');
      const binds = kind === 'unix' ? ['-b', '127.0.0.1:0', '-b', `unix:${socketPath}`] : [];
      const sockets: Socket[] = [];
      let kp: KelpieProcess | undefined;
      try {
        kp = await startKelpie([...binds, '-w', '1', '--worker-connections', '20', '--keep-alive', '120', app]);
        const target: Target = { url: kp.url, socketPath: kind === 'unix' ? socketPath : undefined };
        // Fill the only worker: every slot holds an idle keep-alive connection.
        const pids = await Promise.all(Array.from({ length: 20 }, () => idleConnection(target, sockets)));
        const full = pids[0] as number;
        expect(new Set(pids)).toEqual(new Set([full]));
        // A second worker, with room.
        kp.signal('SIGTTIN');
        const other = await waitUntil(
          async () => {
            const pid = await attempt(target);
            return typeof pid === 'number' && pid !== full ? pid : undefined;
          },
          { timeoutMs: 30_000, what: 'the second worker to serve' },
        );
        // Fresh connections: the full worker must leave them to the other one, not accept and reset them.
        const outcomes: (number | Error)[] = [];
        for (let round = 0; round < 10; round++) {
          outcomes.push(...(await Promise.all(Array.from({ length: 10 }, () => attempt(target)))));
        }
        const failed = outcomes.filter((o) => o instanceof Error);
        expect(failed.map(String), 'normal clients failed while one worker was full').toEqual([]);
        expect(outcomes.every((pid) => pid === other)).toBe(true);
        // Free the full worker's slots: it accepts again.
        for (const socket of sockets) socket.destroy();
        await waitUntil(async () => (await attempt(target)) === full, {
          timeoutMs: 30_000,
          what: 'the formerly full worker to accept again',
        });
        expect(kp.log()).toMatch(/Worker connection limit \(20\) reached: stopped accepting/);
      } finally {
        for (const socket of sockets) socket.destroy();
        await kp?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }
});

describe('a burst of keep-alive connections (SPEC.md 3.3)', () => {
  it('is served in full by one worker when the other cannot accept: spreading holds it back only for moments', async () => {
    const sockets: Socket[] = [];
    const kp = await startKelpie(['-w', '2', '--keep-alive', '120', app]);
    const target: Target = { url: kp.url };
    const pids = new Set<number>();
    await waitUntil(
      async () => {
        const pid = await attempt(target);
        if (typeof pid === 'number') pids.add(pid);
        return pids.size === 2 || undefined;
      },
      { timeoutMs: 30_000, what: 'both workers to answer' },
    );
    const [stopped, running] = [...pids] as [number, number];
    process.kill(stopped, 'SIGSTOP');
    try {
      // Far past a burst (accept-gate.ts SPREAD_BURST): the running worker keeps leaving the rest
      // to a worker that never takes it, and must come back for every one.
      const answered = await Promise.all(Array.from({ length: 64 }, () => idleConnection(target, sockets)));
      expect(new Set(answered)).toEqual(new Set([running]));
      expect(kp.log()).not.toMatch(/Could not listen again/);
    } finally {
      process.kill(stopped, 'SIGCONT');
      for (const socket of sockets) socket.destroy();
      await kp.stop();
    }
  }, 60_000);
});

describe('-k threads: a connection goes to a thread that can serve it now', () => {
  it('two CPU-bound requests on two fresh connections run on the two threads', async () => {
    const kp = await startKelpie(['-k', 'threads', '--threads', '2', '-w', '1', app]);
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([get(`${kp.url}/spin?ms=400`), get(`${kp.url}/spin?ms=400`)]);
      const first = JSON.parse(a.body) as Facts;
      const second = JSON.parse(b.body) as Facts;
      expect(first.pid).toBe(second.pid);
      expect(first.thread, `round ${round}: both requests ran on one thread`).not.toBe(second.thread);
    }
  });
});

describe('-k threads: --max-requests reached while a worker is still starting its threads', () => {
  it('lets the request that reached it finish, then recycles the worker gracefully', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kelpie-late-'));
    const late = join(dir, 'late');
    try {
      const kp = await startKelpie(
        ['-k', 'threads', '--threads', '2', '-w', '1', '--max-requests', '3', fixture('late-thread-app.js')],
        { env: { LATE_THREAD_FILE: late }, timeoutMs: 40_000 },
      );
      const answer = async () => {
        const reply = await get(`${kp.url}/`);
        expect(reply.status).toBe(200);
        return (JSON.parse(reply.body) as Facts).pid;
      };
      const first = new Set([await answer(), await answer()]);
      // From the next worker on, thread 2 listens only once the file is gone.
      writeFileSync(late, '');
      expect(first.has(await answer())).toBe(true);
      await kp.waitForLog(/Autorestarting worker after current request\./);
      // The replacement serves from thread 1 while thread 2 waits: three requests reach its
      // --max-requests before its serve() has finished. The third must be answered.
      // (The retiring worker may still answer one or two until its threads have stopped accepting.)
      const replacement: number[] = [];
      for (let i = 0; i < 10 && replacement.length < 3; i++) {
        const pid = await answer();
        if (!first.has(pid)) replacement.push(pid);
      }
      expect(replacement).toHaveLength(3);
      expect(new Set(replacement).size).toBe(1);
      expect(kp.countLog(/Serving with 2 threads/), 'the replacement finished serve() too early').toBe(1);
      rmSync(late);
      // It recycles once it serves, gracefully; the next worker serves.
      await kp.waitForLog(/late thread: [\s\S]*Serving with 2 threads[\s\S]*Worker exiting/, { timeoutMs: 30_000 });
      const next = await answer();
      expect(first.has(next) || replacement.includes(next)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
