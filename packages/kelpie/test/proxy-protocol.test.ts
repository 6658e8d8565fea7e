import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { type Certificates, makeCertificates, tlsArgs } from '@kelpie/testkit/certificates';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

// The PROXY protocol as HAProxy sends it: a v1 text line or a v2 binary header written on a raw
// socket before the request (or before the TLS handshake), from loopback.

let certs: Certificates;
beforeAll(async () => {
  certs = await makeCertificates();
}, 120_000);
afterEach(stopAll);
afterAll(() => rmSync(certs.dir, { recursive: true, force: true }));

const app = (shape: 'listenerApp' | 'fetchApp') => `${fixture('tls-apps.mjs')}:${shape}`;
const REQUEST = 'GET /who HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n';

function v1(source: string, family: 'TCP4' | 'TCP6' = 'TCP4'): Buffer {
  const destination = family === 'TCP4' ? '127.0.0.1' : '::1';
  return Buffer.from(`PROXY ${family} ${source} ${destination} 51000 8000\r\n`);
}

function v2(source: string, sourcePort: number, command: 'PROXY' | 'LOCAL' = 'PROXY'): Buffer {
  const head = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const body = Buffer.alloc(12);
  body.set(source.split('.').map(Number), 0);
  body.set([127, 0, 0, 1], 4);
  body.writeUInt16BE(sourcePort, 8);
  body.writeUInt16BE(8000, 10);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([head, Buffer.from([command === 'PROXY' ? 0x21 : 0x20, 0x11]), length, body]);
}

/** Write `bytes` on a new connection (in `pieces` writes a few ms apart) and collect what comes back until close. */
function exchange(url: string, bytes: Buffer, pieces = 1): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('close', () => resolve({ status: Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0), text }));
    socket.on('error', reject);
    const size = Math.ceil(bytes.length / pieces);
    let at = 0;
    const next = () => {
      socket.write(bytes.subarray(at, at + size));
      at += size;
      if (at < bytes.length) setTimeout(next, 5);
    };
    socket.once('connect', next);
  });
}

const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;

describe('--proxy-protocol', () => {
  it('auto: v1 (TCP4, TCP6) and v2 headers set the client for both app shapes; a connection without one is served as direct', async () => {
    for (const shape of ['listenerApp', 'fetchApp'] as const) {
      const kp = await startKelpie(['--proxy-protocol', '-w', '1', app(shape)]);
      const one = await exchange(kp.url, Buffer.concat([v1('203.0.113.7'), Buffer.from(REQUEST)]));
      expect(bodyOf(one.text)).toMatchObject({ client: '203.0.113.7', peer: '203.0.113.7', scheme: 'http' });
      const six = await exchange(kp.url, Buffer.concat([v1('2001:db8::7', 'TCP6'), Buffer.from(REQUEST)]));
      expect(bodyOf(six.text)).toMatchObject({ client: '2001:db8::7' });
      // Split across writes, as a slow sender would: the header is put together first.
      const two = await exchange(kp.url, Buffer.concat([v2('198.51.100.9', 4444), Buffer.from(REQUEST)]), 5);
      expect(bodyOf(two.text)).toMatchObject({ client: '198.51.100.9', peer: '198.51.100.9' });
      const local = await exchange(kp.url, Buffer.concat([v2('198.51.100.9', 4444, 'LOCAL'), Buffer.from(REQUEST)]));
      expect(bodyOf(local.text)).toMatchObject({ client: '127.0.0.1' });
      const direct = await get(`${kp.url}/who`);
      expect(JSON.parse(direct.body)).toMatchObject({ client: '127.0.0.1' });
      await kp.stop();
    }
  });

  it('a malformed header: 400, a warning naming the peer and the reason, the worker serves on', async () => {
    const kp = await startKelpie(['--proxy-protocol', 'v1', '-w', '1', app('listenerApp')]);
    const bad = await exchange(kp.url, Buffer.from(`PROXY TCP4 300.1.1.1 127.0.0.1 1 2\r\n${REQUEST}`));
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/PROXY v1 addresses are not TCP4/);
    await kp.waitForLog(/\[WARNING\] Invalid PROXY header from ip=127\.0\.0\.1: PROXY v1 addresses are not TCP4/);
    const wrongVersion = await exchange(kp.url, Buffer.concat([v2('198.51.100.9', 1), Buffer.from(REQUEST)]));
    expect(wrongVersion.status).toBe(400);
    await kp.waitForLog(/a PROXY v2 header where --proxy-protocol v1 expects v1/);
    expect((await get(`${kp.url}/who`)).status).toBe(200);
  });

  it('a header from a peer outside --proxy-allow-from is refused with 403 (also under -k sync)', async () => {
    for (const workerClass of ['async', 'sync']) {
      const kp = await startKelpie([
        '--proxy-protocol',
        'auto',
        '--proxy-allow-from',
        '10.0.0.0/8',
        '-k',
        workerClass,
        '-w',
        '1',
        app('listenerApp'),
      ]);
      const refused = await exchange(kp.url, Buffer.concat([v1('203.0.113.7'), Buffer.from(REQUEST)]));
      expect(refused.status).toBe(403);
      await kp.waitForLog(/Invalid PROXY header from ip=127\.0\.0\.1: this peer is not in --proxy-allow-from/);
      expect((await get(`${kp.url}/who`)).status).toBe(200);
      await kp.stop();
    }
  });

  it('a header that never completes is dropped after --header-timeout', async () => {
    const kp = await startKelpie(['--proxy-protocol', '--header-timeout', '1', '-w', '1', app('listenerApp')]);
    const { hostname, port } = new URL(kp.url);
    const socket = connect(Number(port), hostname);
    socket.resume();
    socket.write('PROXY TCP4 203.0.113.7');
    await new Promise((resolve) => socket.on('close', resolve));
    await kp.waitForLog(/Invalid PROXY header from ip=127\.0\.0\.1: no complete PROXY header within 1 s/);
  });

  it('TLS: the header comes before the handshake; the client address reaches the app over HTTPS', async () => {
    const kp = await startKelpie(['--proxy-protocol', 'v2', ...tlsArgs(certs), '-w', '1', app('fetchApp')]);
    const { port } = new URL(kp.url);
    const text = await new Promise<string>((resolve, reject) => {
      const raw = connect(Number(port), '127.0.0.1', () => {
        raw.write(v2('192.0.2.44', 40000));
        const secure = tlsConnect({ socket: raw, ca: certs.read(certs.ca), servername: 'localhost' }, () =>
          secure.write(REQUEST),
        );
        let out = '';
        secure.setEncoding('utf8');
        secure.on('data', (chunk: string) => {
          out += chunk;
        });
        secure.on('close', () => resolve(out));
        secure.on('error', reject);
      });
      raw.on('error', reject);
    });
    expect(bodyOf(text)).toMatchObject({ client: '192.0.2.44', scheme: 'https' });
  });
});
