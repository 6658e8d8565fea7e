import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { type KelpieProcess, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

// Resource exhaustion: a worker out of file descriptors, and connections held by clients that
// never read their responses. Every load here is bounded in count and time.

afterAll(stopAll);

/** Open `count` connections to `url`; resolves once each has connected or failed (bounded). */
async function openConnections(url: string, count: number): Promise<Socket[]> {
  const { hostname, port } = new URL(url);
  const sockets = Array.from({ length: count }, () => {
    const socket = connect(Number(port), hostname);
    socket.on('error', () => {});
    return socket;
  });
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 10_000);
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          socket.once('connect', done);
          socket.once('close', done);
        }),
    ),
  );
  return sockets;
}

/** Destroy the sockets and wait until each is closed. */
async function closeAll(sockets: Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.closed) return resolve();
          socket.once('close', () => resolve());
          socket.destroy();
        }),
    ),
  );
}

/** Worker pids booted so far, from the log. */
const bootedWorkers = (kp: KelpieProcess) => [...kp.log().matchAll(/Booting worker with pid: (\d+)/g)].map((m) => m[1]);

describe('descriptor exhaustion (EMFILE)', () => {
  it('a worker out of descriptors keeps serving, and serves new clients once connections close', async () => {
    const limit = 128;
    // --header-timeout: the idle connections must stay open while the worker is out of descriptors.
    const kp = await startKelpie(['-w', '1', '--header-timeout', '300', fixture('pid-app.js')], {
      maxOpenFiles: limit,
    });
    const pid = (await get(kp.url)).body;
    expect(bootedWorkers(kp)).toEqual([pid]);

    // More connections than the worker has descriptors; they stay open until the worker has run
    // into the limit on its periodic paths (the heartbeat reads its memory use from /proc).
    const sockets = await openConnections(kp.url, 2 * limit + 50);
    try {
      await kp.waitForLog(/EMFILE/, { timeoutMs: 30_000 });
      // Held a few heartbeats longer (one a second): not a wait for an event, the time the worker
      // spends out of descriptors. A slow machine makes the test weaker, never flaky.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(kp.log()).not.toMatch(/Uncaught exception|Unhandled promise rejection/);
      expect(bootedWorkers(kp)).toEqual([pid]);
    } finally {
      await closeAll(sockets);
    }
    // The connections are gone: the same worker answers.
    const reply = await waitUntil(
      async () => {
        const r = await get(kp.url).catch(() => undefined);
        return r?.status === 200 ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'a normal request to succeed' },
    );
    expect(reply.body).toBe(pid);
    expect(kp.log()).not.toMatch(/Uncaught exception|Unhandled promise rejection|exited with code/);
    expect(bootedWorkers(kp)).toEqual([pid]);
    // Said once, not once a heartbeat.
    expect(kp.countLog(/Could not read this worker's memory use \(EMFILE/)).toBe(1);
    // And kelpie said so at start: 1000 connections per worker do not fit in 128 descriptors.
    expect(kp.log()).toMatch(
      /--worker-connections 1000 .* above this process's limit of 128 open files.*ulimit -n.*LimitNOFILE=/,
    );
  }, 90_000);
});

/** A client that asks for `path` and never reads a byte of the answer; resolves once connected. */
function neverReading(url: string, path: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      // No 'data' listener: Node reads its buffer's worth, then leaves the rest to the kernel.
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** A client that reads `path` slowly (`chunk` bytes, then a pause of `pauseMs`); resolves with the byte count. */
function slowRead(url: string, path: string, chunk: number, pauseMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { agent: false }, (res) => {
      let total = 0;
      let window = 0;
      res.on('data', (data: Buffer) => {
        total += data.length;
        window += data.length;
        if (window < chunk) return;
        window = 0;
        res.pause();
        setTimeout(() => res.resume(), pauseMs);
      });
      res.on('end', () => resolve(total));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`aborted after ${total} bytes`)));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('--send-timeout', () => {
  // -k sync serves one connection per worker: one client that never reads holds it.
  it.each([
    ['async', [], 4],
    ['ws', ['-k', 'ws'], 4],
    ['threads', ['-k', 'threads', '--threads', '1'], 4],
    ['sync', ['-k', 'sync'], 1],
  ] as const)(
    '-k %s: connections whose client reads nothing are closed, freeing their slots',
    async (_name, worker, slots) => {
      const kp = await startKelpie([
        '-w',
        '1',
        ...worker,
        '--worker-connections',
        String(slots),
        '--send-timeout',
        '5',
        fixture('stream-app.js'),
      ]);
      // Every slot held by a client that asked for 64 MiB and reads none of it.
      const stalled = await Promise.all(Array.from({ length: slots }, () => neverReading(kp.url, '/download?mb=64')));
      try {
        await kp.waitForLog(
          /\[WARNING\] Send timeout: no write progress for 5s \(--send-timeout\) to ip=127\.0\.0\.1 \(GET \/download\?mb=64\), \d+ bytes unsent: connection closed/,
          { timeoutMs: 30_000 },
        );
        // The slots are free (the stalled clients are still there, reading nothing): a normal
        // client is served. Retried while the worker takes the closes in, for a few seconds at most.
        const reply = await waitUntil(() => get(kp.url).catch(() => undefined), {
          timeoutMs: 10_000,
          intervalMs: 100,
          what: 'a normal client to be served',
        });
        expect(reply.status).toBe(200);
      } finally {
        await closeAll(stalled);
        await kp.stop();
      }
    },
    90_000,
  );

  it('a client that reads slowly is never cut', async () => {
    const kp = await startKelpie(['-w', '1', '--send-timeout', '5', fixture('stream-app.js')]);
    // 10 MiB at 64 KiB every 50 ms: longer than --send-timeout in all, and never cut. The kernel
    // takes bytes from a slow reader's connection in bursts (about every 0.8 s at this pace, 3 s
    // at a quarter of it), so the timeout leaves room for a loaded machine.
    expect(await slowRead(kp.url, '/download?mb=10', 64 * 1024, 50)).toBe(10 * 1024 * 1024);
    expect(kp.log()).not.toMatch(/Send timeout/);
  }, 90_000);
});
