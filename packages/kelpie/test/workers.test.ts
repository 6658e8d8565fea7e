import { startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get, pidsSeen } from './helpers.js';

afterEach(stopAll);

describe('worker processes', () => {
  it('serves from several worker pids', async () => {
    const kp = await startKelpie(['-w', '2', fixture('pid-app.js')]);
    const pids = await waitUntil(
      async () => {
        const seen = await pidsSeen(kp.url);
        return seen.size >= 2 ? seen : undefined;
      },
      { what: 'responses from 2 workers' },
    );
    expect(pids.size).toBe(2);
    expect(kp.countLog(/Booting worker with pid: \d+/)).toBe(2);
    expect(pids.has(String(kp.pid))).toBe(false);
  });

  it('replaces a worker killed with SIGKILL and keeps serving', async () => {
    const kp = await startKelpie(['-w', '2', fixture('pid-app.js')]);
    const before = kp.log().length;
    const victim = Number((await get(kp.url)).body);
    process.kill(victim, 'SIGKILL');
    await kp.waitForLog(new RegExp(`Worker \\(pid:${victim}\\) was sent SIGKILL! Perhaps out of memory\\?`));
    const booted = await kp.waitForLog(/Booting worker with pid: (\d+)/, { from: before });
    const replacement = booted[1];
    expect(Number(replacement)).not.toBe(victim);
    await waitUntil(async () => (await pidsSeen(kp.url)).has(replacement as string), {
      what: 'the new worker to answer',
    });
    for (let i = 0; i < 10; i++) expect((await get(kp.url)).body).not.toBe(String(victim));
  });

  it('TTIN adds a worker and TTOU removes one, never below 1', async () => {
    const kp = await startKelpie(['-w', '1', fixture('pid-app.js')]);
    kp.signal('SIGTTIN');
    await kp.waitForLog(/Number of workers changed from 1 to 2/);
    await waitUntil(async () => (await pidsSeen(kp.url)).size >= 2, { what: 'two workers answering' });
    kp.signal('SIGTTOU');
    await kp.waitForLog(/Number of workers changed from 2 to 1/);
    await kp.waitForLog(/Worker exiting/);
    await waitUntil(async () => (await pidsSeen(kp.url, 20)).size === 1, { what: 'one worker answering' });
    kp.signal('SIGTTOU');
    await kp.waitForLog(/Handling signal: ttou[\s\S]*Handling signal: ttou/);
    expect(kp.log()).not.toMatch(/changed from 1 to 0/);
    expect((await get(kp.url)).status).toBe(200);
  });

  it('kills a worker whose event loop is blocked past --timeout and replaces it', async () => {
    const kp = await startKelpie(['-w', '1', '--timeout', '1', fixture('pid-app.js')]);
    const first = (await get(kp.url)).body;
    const blocked = get(`${kp.url}/block`).catch((error: Error) => error);
    await kp.waitForLog(new RegExp(`\\[CRITICAL\\] WORKER TIMEOUT \\(pid:${first}\\)`));
    await kp.waitForLog(new RegExp(`Worker \\(pid:${first}\\) was sent SIGKILL after WORKER TIMEOUT`));
    expect(await blocked).toBeInstanceOf(Error);
    const next = await waitUntil(
      async () => {
        const reply = await get(kp.url).catch(() => undefined);
        return reply && reply.body !== first ? reply : undefined;
      },
      { what: 'a replacement worker' },
    );
    expect(next.status).toBe(200);
  });

  it('turns a throwing or rejecting handler into a 500 and keeps serving', async () => {
    const kp = await startKelpie(['-w', '1', fixture('pid-app.js')]);
    const pid = (await get(kp.url)).body;
    expect((await get(`${kp.url}/throw`)).status).toBe(500);
    expect((await get(`${kp.url}/reject`)).status).toBe(500);
    await kp.waitForLog(/\[ERROR\] Error handling request GET \/throw\n[\s\S]*boom from handler/);
    await kp.waitForLog(/\[ERROR\] Error handling request GET \/reject/);
    expect((await get(kp.url)).body).toBe(pid);
  });

  it('answers a malformed request with 400, logs it and keeps serving', async () => {
    const kp = await startKelpie(['-w', '1', fixture('pid-app.js')]);
    const { connect } = await import('node:net');
    const port = Number(new URL(kp.url).port);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'));
      let data = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        data += chunk;
      });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    await kp.waitForLog(/\[WARNING\] Invalid request from ip=127\.0\.0\.1/);
    expect((await get(kp.url)).status).toBe(200);
  });

  it('leaves connections beyond --worker-connections in the backlog, logs it, and serves them once a slot frees', async () => {
    const kp = await startKelpie(['-w', '1', '--worker-connections', '2', '--keep-alive', '30', fixture('pid-app.js')]);
    const { connect } = await import('node:net');
    const port = Number(new URL(kp.url).port);
    const open = (): Promise<{ socket: import('node:net').Socket; reply: string }> =>
      new Promise((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        let reply = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => {
          reply += chunk;
          if (reply.includes('\r\n\r\n')) resolve({ socket, reply });
        });
        socket.on('close', () => resolve({ socket, reply }));
        socket.on('error', () => {});
      });
    const first = await open();
    const second = await open();
    expect(first.reply).toMatch(/^HTTP\/1\.1 200/);
    expect(second.reply).toMatch(/^HTTP\/1\.1 200/);
    await kp.waitForLog(/Worker connection limit \(2\) reached: stopped accepting/);
    // Not accepted and reset: it waits in the backlog until a slot frees.
    const waiting = open();
    first.socket.destroy();
    const third = await waiting;
    expect(third.reply).toMatch(/^HTTP\/1\.1 200/);
    second.socket.destroy();
    third.socket.destroy();
    expect(kp.log()).not.toMatch(/closed \d+ new connection/);
  });
});
