import { execFile } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { type KelpieProcess, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { ensureCommand, findCommand } from '@kelpie/testkit/apt';
import { type Certificates, makeCertificates, tlsArgs } from '@kelpie/testkit/certificates';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

// TLS and HTTP/2 with real clients: Node's https, http2 and tls clients, and Debian's curl, on
// throw-away certificates made with openssl for this run.

let certs: Certificates;
let spare: Certificates;
beforeAll(async () => {
  [certs, spare] = await Promise.all([makeCertificates(), makeCertificates()]);
}, 120_000);
afterEach(stopAll);
afterAll(() => {
  for (const made of [certs, spare]) if (made) rmSync(made.dir, { recursive: true, force: true });
});

const app = (shape: 'listenerApp' | 'fetchApp') => `${fixture('tls-apps.mjs')}:${shape}`;

interface Reply {
  status: number;
  body: string;
  json: Record<string, unknown>;
  alpn?: string | false;
}

/** An HTTPS/1.1 request trusting the test CA, with a client certificate when asked. */
function httpsGet(
  url: string,
  options: { method?: string; body?: string; client?: boolean; path?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${url}${options.path ?? '/'}`,
      {
        method: options.method ?? 'GET',
        ca: certs.read(certs.ca),
        agent: false,
        // Offered explicitly, so the fallback from h2 is what is tested.
        ...({ ALPNProtocols: ['http/1.1'] } as object),
        ...(options.client ? { cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            json: safeJson(body),
            alpn: (res.socket as never as { alpnProtocol: string }).alpnProtocol,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function safeJson(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Requests over one HTTP/2 connection (several streams at once when asked). */
async function h2Requests(
  url: string,
  requests: { path: string; method?: string; body?: string; headers?: Record<string, string> }[],
): Promise<Reply[]> {
  const session = http2Connect(url, { ca: certs.read(certs.ca) });
  session.on('error', () => {});
  try {
    return await Promise.all(
      requests.map(
        (r) =>
          new Promise<Reply>((resolve, reject) => {
            const stream = session.request({ ':path': r.path, ':method': r.method ?? 'GET', ...r.headers });
            let status = 0;
            let body = '';
            stream.setEncoding('utf8');
            stream.on('response', (headers) => {
              status = Number(headers[':status']);
            });
            stream.on('data', (chunk: string) => {
              body += chunk;
            });
            stream.on('end', () => resolve({ status, body, json: safeJson(body) }));
            stream.on('error', reject);
            stream.end(r.body);
          }),
      ),
    );
  } finally {
    session.close();
  }
}

/** The SHA-256 fingerprint of the certificate a server presents. */
function presentedFingerprint(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: hostname, port: Number(port), rejectUnauthorized: false, servername: 'localhost' },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

async function curl(args: string[]): Promise<string> {
  const missing = await ensureCommand('curl', 'curl');
  if (missing) throw new Error(missing);
  const { stdout } = await promisify(execFile)(findCommand('curl') as string, ['-sS', '--cacert', certs.ca, ...args]);
  return stdout;
}

describe('TLS', () => {
  it('--certfile/--keyfile serve HTTPS: https in the log, the URL and the request info', async () => {
    const kp = await startKelpie([...tlsArgs(certs), '-w', '1', app('listenerApp')]);
    expect(kp.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const reply = await httpsGet(kp.url, { path: '/a?b=1' });
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ version: '1.1', scheme: 'https', url: `${kp.url}/a?b=1` });
    expect(kp.log()).toMatch(/Listening at: https:\/\/127\.0\.0\.1:\d+/);
  });

  it('--cert-reqs required: a client without a certificate fails the handshake, one with a certificate is served', async () => {
    const kp = await startKelpie([
      ...tlsArgs(certs),
      '--ca-certs',
      certs.ca,
      '--cert-reqs',
      'required',
      '-w',
      '1',
      app('fetchApp'),
    ]);
    await expect(httpsGet(kp.url)).rejects.toThrow(/certificate|socket hang up|ECONNRESET|alert/i);
    const reply = await httpsGet(kp.url, { client: true });
    expect(reply.json).toMatchObject({ shape: 'fetch', authorized: true });
    // The worker served on after the refused handshake.
    expect(kp.log()).not.toMatch(/Worker \(pid:\d+\) exited/);
  });

  it('--cert-reqs optional (Gunicorn 1): a client without a certificate is served with authorized false', async () => {
    const kp = await startKelpie([
      ...tlsArgs(certs),
      '--ca-certs',
      certs.ca,
      '--cert-reqs',
      '1',
      '-w',
      '1',
      app('listenerApp'),
    ]);
    expect((await httpsGet(kp.url)).json).toMatchObject({ authorized: false });
    expect((await httpsGet(kp.url, { client: true })).json).toMatchObject({ authorized: true });
  });

  it.each([
    [['--keyfile', 'OTHER'], /TLS setup failed: --keyfile .*other\.key is not the private key of --certfile/],
    [['--certfile', 'MISSING'], /Cannot read --certfile .*missing\.pem: no such file/],
    [['--certfile', 'KEY'], /--certfile .*server\.key is not a PEM certificate/],
    [['--ciphers', 'NO-SUCH-CIPHER'], /--ciphers "NO-SUCH-CIPHER" names no cipher/],
  ])('a bad TLS setup (%j) stops kelpie before binding, exit 2, saying why', async (change, reason) => {
    const values: Record<string, string> = {
      OTHER: certs.otherKey,
      MISSING: `${certs.dir}/missing.pem`,
      KEY: certs.key,
    };
    const args = [...tlsArgs(certs)];
    const [flag, value] = change as [string, string];
    const at = args.indexOf(flag);
    if (at >= 0) args[at + 1] = values[value] ?? value;
    else args.push(flag, values[value] ?? value);
    const kp = await startKelpie([...args, app('listenerApp')], { waitFor: 'nothing' });
    expect((await kp.exited()).code).toBe(2);
    expect(kp.log()).toMatch(reason);
    expect(kp.log()).not.toMatch(/Listening at/);
  });

  it('settings that need TLS without it, and h2 under -k sync, are usage errors naming the setting', async () => {
    for (const [args, reason] of [
      [['--http-protocols', 'h2,h1'], /HTTP\/2 is served over TLS only: set --certfile and --keyfile/],
      [['--certfile', 'x.pem'], /--certfile needs --keyfile/],
      [['--cert-reqs', 'required'], /--cert-reqs required needs TLS/],
      [['--http-protocols', 'h3'], /Invalid value for --http-protocols: "h3"\. Allowed: h1, h2 or both/],
      [[...tlsArgs(certs, 'h2,h1'), '-k', 'sync'], /"h2" with -k sync, which serves one request per connection/],
    ] as [string[], RegExp][]) {
      const kp = await startKelpie([...args, app('listenerApp')], { waitFor: 'nothing' });
      expect((await kp.exited()).code).toBe(2);
      expect(kp.log()).toMatch(reason);
    }
  });

  it('plain HTTP sent to the TLS port gets a plain 400 saying so (HTTP/1.1 and h2,h1 servers)', async () => {
    for (const protocols of ['h1', 'h2,h1']) {
      const kp = await startKelpie([...tlsArgs(certs, protocols), '-w', '1', app('listenerApp')]);
      const plain = await get(kp.url.replace('https:', 'http:'));
      expect(plain.status).toBe(400);
      expect(plain.body).toMatch(/this port speaks HTTPS/);
      await kp.waitForLog(/Plain HTTP request sent to the TLS port from ip=127\.0\.0\.1/);
      expect((await httpsGet(kp.url)).status).toBe(200);
      await kp.stop();
    }
  });

  it('a client that never starts the handshake is dropped after --header-timeout; the worker serves on', async () => {
    const kp = await startKelpie([...tlsArgs(certs), '--header-timeout', '1', '-w', '1', app('listenerApp')]);
    const { port } = new URL(kp.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.resume();
    const started = Date.now();
    await new Promise((resolve) => socket.on('close', resolve));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await httpsGet(kp.url)).status).toBe(200);
  });

  it('HUP reads the certificate files again: new workers present the renewed certificate', async () => {
    const dir = certs.dir;
    copyFileSync(certs.cert, `${dir}/live.pem`);
    copyFileSync(certs.key, `${dir}/live.key`);
    const kp = await startKelpie([
      ...tlsArgs({ cert: `${dir}/live.pem`, key: `${dir}/live.key` }),
      '-w',
      '1',
      app('listenerApp'),
    ]);
    const before = await presentedFingerprint(kp.url);
    copyFileSync(spare.cert, `${dir}/live.pem`);
    copyFileSync(spare.key, `${dir}/live.key`);
    kp.signal('SIGHUP');
    await waitUntil(() => kp.countLog(/Booting worker with pid/) === 2, { what: 'the new worker' });
    await waitForFingerprint(kp, (fingerprint) => fingerprint !== before);
    // A broken pair on the next HUP keeps the workers and says why.
    copyFileSync(certs.key, `${dir}/live.key`);
    kp.signal('SIGHUP');
    await kp.waitForLog(/Reload failed, keeping the running configuration and workers: TLS setup failed/);
  });

  it("HUP runs the worker class's checks on the new settings: -k sync refuses HTTP/2 there too", async () => {
    const config = `${certs.dir}/sync-h2.config.mjs`;
    const write = (protocols: string) =>
      writeFileSync(config, `export default { httpProtocols: '${protocols}', workerClass: 'sync' };\n`);
    write('h1');
    const kp = await startKelpie(['-c', config, ...tlsArgs(certs), app('listenerApp')]);
    write('h2,h1');
    kp.signal('SIGHUP');
    await kp.waitForLog(/Reload failed, keeping the running configuration and workers: .*HTTP\/2/);
    expect(kp.countLog(/Booting worker with pid/)).toBe(1);
    expect((await httpsGet(`${kp.url}/`)).status).toBe(200);
  });
});

async function waitForFingerprint(kp: KelpieProcess, ok: (fingerprint: string) => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (ok(await presentedFingerprint(kp.url))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the new certificate was not presented; log:\n${kp.log()}`);
}

describe('HTTP/2', () => {
  for (const [workerClass, extra] of [
    ['async', []],
    ['threads', ['--threads', '2']],
    ['ws', []],
  ] as [string, string[]][]) {
    it(`--http-protocols h2,h1 with -k ${workerClass}: both app shapes over HTTP/2 (streams at once, bodies) and HTTP/1.1 fallback`, async () => {
      for (const shape of ['listenerApp', 'fetchApp'] as const) {
        const kp = await startKelpie([...tlsArgs(certs, 'h2,h1'), '-k', workerClass, ...extra, '-w', '1', app(shape)]);
        const replies = await h2Requests(kp.url, [
          { path: '/one?x=1' },
          { path: '/two', method: 'POST', body: 'x'.repeat(70_000) },
          { path: '/three', method: 'PUT', body: 'put body' },
        ]);
        expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
        expect(replies[0]?.json).toMatchObject({
          version: '2.0',
          method: 'GET',
          scheme: 'https',
          url: `${kp.url}/one?x=1`,
        });
        expect(String(replies[1]?.json.body).length).toBe(70_000);
        expect(replies[2]?.json).toMatchObject({ method: 'PUT', body: 'put body' });
        const h1 = await httpsGet(kp.url, { path: '/h1', method: 'POST', body: 'over h1' });
        expect(h1.json).toMatchObject({ version: '1.1', body: 'over h1', scheme: 'https' });
        expect(h1.alpn).toBe('http/1.1');
        await kp.stop();
      }
    });
  }

  it("curl --http2 negotiates h2 through ALPN; kelpie's limits answer over HTTP/2 too", async () => {
    const kp = await startKelpie([
      ...tlsArgs(certs, 'h2,h1'),
      '--limit-request-body',
      '100',
      '--limit-request-line',
      '200',
      '-w',
      '1',
      app('fetchApp'),
    ]);
    const url = kp.url.replace('127.0.0.1', 'localhost');
    const out = await curl(['--http2', '-i', `${url}/via-curl`]);
    expect(out).toMatch(/^HTTP\/2 200/);
    expect(out).toMatch(/"version":"2.0"/);
    const [tooBig, tooLong, fine] = await h2Requests(kp.url, [
      { path: '/upload', method: 'POST', body: 'y'.repeat(101) },
      { path: `/${'z'.repeat(200)}` },
      { path: '/upload', method: 'POST', body: 'y'.repeat(100) },
    ]);
    expect(tooBig?.status).toBe(413);
    expect(tooLong?.status).toBe(414);
    expect(fine?.status).toBe(200);
    expect(kp.log()).toMatch(/Invalid request from ip=127\.0\.0\.1: body .*--limit-request-body 100/);
  });

  it('an HTTP/2 body that passes --limit-request-body while the app reads it: 413, and the app sees it aborted', async () => {
    const kp = await startKelpie([
      ...tlsArgs(certs, 'h2,h1'),
      '--limit-request-body',
      '100',
      '-w',
      '1',
      app('listenerApp'),
    ]);
    const [refused] = await h2Requests(kp.url, [{ path: '/body-outcome', method: 'POST', body: 'y'.repeat(150) }]);
    expect(refused?.status).toBe(413);
    await waitUntil(() => /tls-apps: body (ended|aborted)/.test(kp.stdout()), { what: 'the app to see the body end' });
    expect(kp.stdout()).toMatch(/tls-apps: body aborted after 0 bytes/);
    expect(kp.stdout()).not.toMatch(/body ended/);
  });

  it('TERM lets an HTTP/2 request in flight finish (GOAWAY), then exits 0', async () => {
    const kp = await startKelpie([...tlsArgs(certs, 'h2,h1'), '-w', '1', app('listenerApp')]);
    const pending = h2Requests(kp.url, [{ path: '/slow' }, { path: '/slow' }]);
    await waitUntil(() => (kp.stdout().match(/tls-apps: slow request started/g) ?? []).length === 2, {
      what: 'both requests to reach the app',
    });
    kp.signal('SIGTERM');
    const replies = await pending;
    expect(replies.map((r) => r.status)).toEqual([200, 200]);
    expect(await kp.exited()).toEqual({ code: 0, signal: null });
  });
});
