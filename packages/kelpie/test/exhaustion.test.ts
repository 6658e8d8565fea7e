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
