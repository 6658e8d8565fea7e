import { startKelpie, stopAll } from '@kelpie/testkit';
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
});
