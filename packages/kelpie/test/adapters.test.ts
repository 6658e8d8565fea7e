import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

afterEach(stopAll);

const json = async (url: string, options: Parameters<typeof get>[1] = {}) => {
  const reply = await get(url, options);
  return { status: reply.status, body: JSON.parse(reply.body) as Record<string, unknown> };
};

const FORWARDED = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' };

describe.each([
  ['Express 5', 'express'],
  ['Express 4', 'express4'],
])('the Express adapter with %s', (_label, pkg) => {
  const start = (args: string[] = []) =>
    startKelpie([...args, fixture('express-adapter-app.js')], { env: { EXPRESS: pkg } });

  it('routes, parses JSON bodies, and logs that it serves through the adapter', async () => {
    const kp = await start(['--log-level', 'debug']);
    expect(await json(`${kp.url}/json`)).toEqual({ status: 200, body: { ok: true, version: pkg } });
    const echoed = await json(`${kp.url}/echo`, {
      method: 'POST',
      body: JSON.stringify({ a: [1, 2] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(echoed).toEqual({ status: 200, body: { a: [1, 2] } });
    expect(kp.log()).toMatch(/Serving the app through adapter express/);
  });

  it('turns a thrown or rejected error into a logged 500, and the worker serves on', async () => {
    const kp = await start();
    const pid = (await json(`${kp.url}/whoami`)).body.pid;
    for (const path of ['/async-error', '/sync-error']) {
      const reply = await get(`${kp.url}${path}`);
      expect(reply.status).toBe(500);
      expect(reply.body).toBe('Internal Server Error\n');
    }
    await kp.waitForLog(/\[ERROR\] Error handling request GET \/async-error[\s\S]*async handler failed/);
    await kp.waitForLog(/\[ERROR\] Error handling request GET \/sync-error[\s\S]*sync handler failed/);
    expect((await json(`${kp.url}/whoami`)).body.pid).toBe(pid);
    expect(kp.log()).not.toMatch(/Unhandled promise rejection/);
  });

  it("runs the app's startup hook before serving and its shutdown hook on a graceful stop", async () => {
    const kp = await start();
    const pid = (await json(`${kp.url}/whoami`)).body.pid;
    expect(kp.log()).toContain(`express startup ran in ${pid}`);
    kp.signal('SIGTERM');
    expect(await kp.exited()).toMatchObject({ code: 0 });
    expect(kp.log()).toContain(`express shutdown ran in ${pid}`);
  });

  it('believes X-Forwarded-* from an allowed proxy (127.0.0.1 by default)', async () => {
    const kp = await start();
    const { body } = await json(`${kp.url}/whoami`, { headers: FORWARDED });
    expect(body).toMatchObject({ ip: '203.0.113.9', protocol: 'https' });
  });

  it('believes X-Forwarded-* over a unix socket (a local proxy), whatever --forwarded-allow-ips says', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kelpie-express-unix-'));
    try {
      const path = join(dir, 'app.sock');
      await start(['-b', `unix:${path}`, '--forwarded-allow-ips', '10.0.0.0/8']);
      const { body } = await json('http://app.local/whoami', { socketPath: path, headers: FORWARDED });
      expect(body).toMatchObject({ ip: '203.0.113.9', protocol: 'https' });
      await stopAll();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ignores X-Forwarded-* from a peer not in --forwarded-allow-ips', async () => {
    const kp = await start(['--forwarded-allow-ips', '10.0.0.0/8']);
    const { body } = await json(`${kp.url}/whoami`, { headers: FORWARDED });
    expect(body).toMatchObject({ ip: '127.0.0.1', protocol: 'http', ips: [] });
  });
});

describe.each([
  ['Koa 3', 'koa'],
  ['Koa 2', 'koa2'],
])('the Koa adapter with %s', (_label, pkg) => {
  const start = (args: string[] = []) => startKelpie([...args, fixture('koa-adapter-app.js')], { env: { KOA: pkg } });

  it('routes and reads JSON bodies', async () => {
    const kp = await start();
    expect(await json(`${kp.url}/json`)).toEqual({ status: 200, body: { ok: true, version: pkg } });
    const echoed = await json(`${kp.url}/echo`, { method: 'POST', body: '{"b":true}' });
    expect(echoed).toEqual({ status: 200, body: { b: true } });
  });

  it('logs an async error, answers 500, and the worker serves on', async () => {
    const kp = await start();
    const pid = (await json(`${kp.url}/whoami`)).body.pid;
    expect((await get(`${kp.url}/async-error`)).status).toBe(500);
    await kp.waitForLog(/\[ERROR\] Error handling request GET \/async-error[\s\S]*async middleware failed/);
    expect((await json(`${kp.url}/whoami`)).body.pid).toBe(pid);
  });

  it('ctx.ip follows allowed proxies only', async () => {
    const trusting = await start();
    expect((await json(`${trusting.url}/whoami`, { headers: FORWARDED })).body).toMatchObject({
      ip: '203.0.113.9',
      protocol: 'https',
    });
    // A client cannot slip an address in front of what the trusted proxy reports.
    const spoofed = { ...FORWARDED, 'x-forwarded-for': '6.6.6.6, 203.0.113.9' };
    expect((await json(`${trusting.url}/whoami`, { headers: spoofed })).body.ip).toBe('203.0.113.9');
    const wary = await start(['--forwarded-allow-ips', '10.0.0.1']);
    expect((await json(`${wary.url}/whoami`, { headers: FORWARDED })).body).toMatchObject({
      ip: '127.0.0.1',
      protocol: 'http',
    });
  });
});

describe('the Fastify adapter with Fastify 5', () => {
  it('awaits ready() before serving and routes with JSON bodies', async () => {
    const kp = await startKelpie([fixture('fastify-adapter-app.js')]);
    expect(await json(`${kp.url}/json`)).toEqual({ status: 200, body: { ok: true, greeting: 'loaded by ready()' } });
    const echoed = await json(`${kp.url}/echo`, {
      method: 'POST',
      body: '{"c":3}',
      headers: { 'content-type': 'application/json' },
    });
    expect(echoed).toEqual({ status: 200, body: { c: 3 } });
    // Created with trustProxy: true, which Fastify 5 no longer shows in initialConfig.
    expect(kp.log()).not.toMatch(/created without trustProxy/);
  });

  it('logs an async error, answers 500, and the worker serves on', async () => {
    const kp = await startKelpie([fixture('fastify-adapter-app.js')]);
    const pid = (await json(`${kp.url}/whoami`)).body.pid;
    expect((await get(`${kp.url}/async-error`)).status).toBe(500);
    await kp.waitForLog(/\[ERROR\] Error handling request GET \/async-error[\s\S]*async route failed/);
    expect((await json(`${kp.url}/whoami`)).body.pid).toBe(pid);
  });

  it('request.ip follows allowed proxies only', async () => {
    const trusting = await startKelpie([fixture('fastify-adapter-app.js')]);
    expect((await json(`${trusting.url}/whoami`, { headers: FORWARDED })).body).toMatchObject({
      ip: '203.0.113.9',
      protocol: 'https',
    });
    const wary = await startKelpie(['--forwarded-allow-ips', '10.0.0.1', fixture('fastify-adapter-app.js')]);
    expect((await json(`${wary.url}/whoami`, { headers: FORWARDED })).body).toMatchObject({
      ip: '127.0.0.1',
      protocol: 'http',
    });
  });

  it('runs close() and its onClose hooks on a graceful stop', async () => {
    const kp = await startKelpie([fixture('fastify-adapter-app.js')]);
    const pid = (await json(`${kp.url}/whoami`)).body.pid;
    kp.signal('SIGTERM');
    expect(await kp.exited()).toMatchObject({ code: 0 });
    expect(kp.log()).toContain(`fastify onClose ran in ${pid}`);
  });
});

describe('--adapter', () => {
  it('none serves the app as a plain listener', async () => {
    const kp = await startKelpie(['--adapter', 'none', fixture('express-adapter-app.js')]);
    const { body } = await json(`${kp.url}/whoami`, { headers: FORWARDED });
    expect(body.ip).toBe('127.0.0.1');
  });

  it('an adapter that is not installed stops the server with exit 4 and says what to install', async () => {
    const kp = await startKelpie(['--adapter', 'nope', fixture('express-adapter-app.js')], { waitFor: 'nothing' });
    const exit = await kp.exited(20_000);
    expect(exit.code).toBe(4);
    expect(kp.log()).toMatch(/Adapter "nope" not found\.\nTried: @kelpie\/adapter-nope, kelpie-adapter-nope/);
    expect(kp.log()).toMatch(/Install it with: npm install kelpie-adapter-nope/);
  });

  it('rejects a bad --forwarded-allow-ips value naming the setting', async () => {
    const kp = await startKelpie(['--forwarded-allow-ips', '10.0.0.300', fixture('express-adapter-app.js')], {
      waitFor: 'nothing',
    });
    expect((await kp.exited(20_000)).code).toBe(2);
    expect(kp.log()).toMatch(/Invalid value for --forwarded-allow-ips: "10\.0\.0\.300"\. Allowed: comma-separated IP/);
  });
});
