import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

// Forwarded headers are believed only from --forwarded-allow-ips peers (default 127.0.0.1,::1,
// which is where these requests come from).

afterEach(stopAll);

interface Facts {
  url: string;
  scheme: string;
  client: string;
  trusted: boolean;
}
const facts = async (url: string, headers: Record<string, string>) => {
  const reply = await get(url, { headers });
  return { status: reply.status, ...(reply.status === 200 ? (JSON.parse(reply.body) as Facts) : ({} as Facts)) };
};
const behindProxy = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7, 127.0.0.1' };

describe.each([
  ['fetch app', 'proxy-apps.mjs:fetchApp'],
  ['Node listener', 'proxy-apps.mjs:listenerApp'],
])('proxy resolution, %s', (_kind, app) => {
  it('from a trusted peer: https in the URL, the client from X-Forwarded-For', async () => {
    const kp = await startKelpie(['-w', '1', fixture(app)]);
    const seen = await facts(`${kp.url}/path?q=1`, behindProxy);
    expect(seen).toMatchObject({ status: 200, scheme: 'https', client: '203.0.113.7', trusted: true });
    expect(seen.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/path\?q=1$/);
    const plain = await facts(`${kp.url}/`, {});
    expect(plain).toMatchObject({ scheme: 'http', client: '127.0.0.1' });
  });

  it('over a unix socket (a local proxy, as in Gunicorn): trusted whatever --forwarded-allow-ips says', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kelpie-unix-proxy-'));
    try {
      const path = join(dir, 'app.sock');
      const kp = await startKelpie(
        ['-b', `unix:${path}`, '-w', '1', '--forwarded-allow-ips', '10.1.2.3', fixture(app)],
        {
          waitFor: 'ready',
        },
      );
      // nginx in front: the client as it connected to nginx (the chain's other hops are judged by the list).
      const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' };
      const reply = await get('http://app.local/', { socketPath: path, headers });
      expect(JSON.parse(reply.body)).toMatchObject({ scheme: 'https', client: '203.0.113.7', trusted: true });
      await kp.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('from an untrusted peer: the headers are ignored', async () => {
    const kp = await startKelpie(['-w', '1', '--forwarded-allow-ips', '10.1.2.3', fixture(app)]);
    const seen = await facts(`${kp.url}/`, { ...behindProxy, 'x-forwarded-ssl': 'off' });
    expect(seen).toMatchObject({ status: 200, scheme: 'http', client: '127.0.0.1', trusted: false });
  });
});

describe('secure scheme headers', () => {
  it('that disagree, from a trusted peer: 400 and a warning, before the app', async () => {
    const kp = await startKelpie(['-w', '1', fixture('proxy-apps.mjs:fetchApp')]);
    const reply = await get(`${kp.url}/`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-ssl': 'off' } });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatch(/contradictory scheme headers/);
    await kp.waitForLog(/Invalid request from ip=127\.0\.0\.1: contradictory scheme headers from a trusted proxy/);
    expect((await get(`${kp.url}/`)).status).toBe(200);
  });

  it('--secure-scheme-headers names other headers; the defaults then mean nothing', async () => {
    const kp = await startKelpie([
      '-w',
      '1',
      '--secure-scheme-headers',
      'X-Scheme=https',
      fixture('proxy-apps.mjs:fetchApp'),
    ]);
    expect(await facts(`${kp.url}/`, { 'x-scheme': 'https' })).toMatchObject({ scheme: 'https' });
    expect(await facts(`${kp.url}/`, { 'x-forwarded-proto': 'https' })).toMatchObject({ scheme: 'http' });
  });

  it('a bad --secure-scheme-headers value is refused, naming it', async () => {
    const kp = await startKelpie(['--secure-scheme-headers', 'X-Scheme', fixture('proxy-apps.mjs:fetchApp')], {
      waitFor: 'nothing',
    });
    expect(await kp.exited()).toEqual({ code: 2, signal: null });
    expect(kp.log()).toMatch(/Invalid value for --secure-scheme-headers: "X-Scheme"\. Allowed: HEADER=VALUE pairs/);
  });
});
