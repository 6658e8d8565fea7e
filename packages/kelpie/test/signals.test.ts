import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

afterEach(stopAll);

describe('signals', () => {
  it('TERM lets an in-flight 1 s request finish, then exits 0', async () => {
    const kp = await startKelpie(['-w', '2', fixture('pid-app.js')]);
    const started = Date.now();
    const slow = get(`${kp.url}/sleep?ms=1000`);
    // The request is in a worker once its connection is accepted; a second request proves the
    // server is up, and the TERM below goes out while the slow one is still sleeping.
    await get(kp.url);
    kp.signal('SIGTERM');
    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^slept 1000/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    const exit = await kp.exited();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(kp.log()).toMatch(/Handling signal: term/);
    expect(kp.log()).toMatch(/Shutting down: Master/);
  });

  it('TERM during a streamed keep-alive response: it completes, then the idle connection closes', async () => {
    const kp = await startKelpie(['-w', '1', '--keep-alive', '30', '--graceful-timeout', '20', fixture('pid-app.js')]);
    const { request } = await import('node:http');
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    const body = new Promise<string>((resolve, reject) => {
      const req = request(`${kp.url}/stream?ms=800`, { agent }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
          if (text === 'start\n') kp.signal('SIGTERM');
        });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    expect(await body).toBe('start\nend\n');
    const ended = Date.now();
    expect(await kp.exited()).toEqual({ code: 0, signal: null });
    // Not held open until --keep-alive (30 s) or --graceful-timeout (20 s).
    expect(Date.now() - ended).toBeLessThan(5000);
    agent.destroy();
  });

  it('stops accepting new connections once TERM arrives', async () => {
    const kp = await startKelpie(['-w', '1', fixture('pid-app.js')]);
    const slow = get(`${kp.url}/sleep?ms=800`);
    await get(kp.url);
    kp.signal('SIGTERM');
    await kp.waitForLog(/Handling signal: term/);
    expect((await slow).status).toBe(200);
    expect(await kp.exited()).toEqual({ code: 0, signal: null });
    await expect(get(kp.url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('INT stops quickly without waiting for in-flight requests', async () => {
    const kp = await startKelpie(['-w', '1', '--graceful-timeout', '20', fixture('pid-app.js')]);
    const slow = get(`${kp.url}/sleep?ms=10000`).catch((error: Error) => error);
    await get(kp.url);
    const started = Date.now();
    kp.signal('SIGINT');
    expect(await kp.exited()).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await slow).toBeInstanceOf(Error);
  });

  it('QUIT stops quickly too', async () => {
    const kp = await startKelpie(['-w', '2', fixture('pid-app.js')]);
    kp.signal('SIGQUIT');
    expect(await kp.exited()).toEqual({ code: 0, signal: null });
    expect(kp.log()).toMatch(/Handling signal: quit/);
  });

  it('kills workers that outlive --graceful-timeout', async () => {
    const kp = await startKelpie(['-w', '1', '--graceful-timeout', '1', fixture('pid-app.js')]);
    const slow = get(`${kp.url}/sleep?ms=20000`).catch((error: Error) => error);
    await get(kp.url);
    const started = Date.now();
    kp.signal('SIGTERM');
    expect(await kp.exited()).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(await slow).toBeInstanceOf(Error);
  });

  it('HUP replaces every worker with a new one and keeps serving', async () => {
    const kp = await startKelpie(['-w', '2', fixture('pid-app.js')]);
    const before = kp.log().length;
    kp.signal('SIGHUP');
    await kp.waitForLog(/Hang up: Master/);
    await kp.waitForLog(/Worker exiting[\s\S]*Worker exiting/, { from: before });
    expect(kp.countLog(/Booting worker with pid/)).toBe(4);
    expect((await get(kp.url)).status).toBe(200);
  });

  it('HUP serves freshly loaded app code without failing a request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kelpie-hup-'));
    const app = join(dir, 'app.cjs');
    const version = (v: string) => `module.exports = (req, res) => res.end('${v}');\n`;
    writeFileSync(app, version('v1'));
    try {
      const kp = await startKelpie(['-w', '2', app]);
      expect((await get(kp.url)).body).toBe('v1');
      writeFileSync(app, version('v2'));
      kp.signal('SIGHUP');
      const seen = new Set<string>();
      const failures: unknown[] = [];
      await waitUntil(
        async () => {
          await Promise.all(
            Array.from({ length: 10 }, () =>
              get(kp.url).then(
                (reply) => seen.add(reply.body),
                (error: unknown) => failures.push(error),
              ),
            ),
          );
          return kp.countLog(/Worker exiting/) >= 2 && (await get(kp.url)).body === 'v2';
        },
        { what: 'the new generation to serve v2' },
      );
      expect(failures).toEqual([]);
      expect([...seen].every((body) => body === 'v1' || body === 'v2')).toBe(true);
      for (let i = 0; i < 10; i++) expect((await get(kp.url)).body).toBe('v2');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
