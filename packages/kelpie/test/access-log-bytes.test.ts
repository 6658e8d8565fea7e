import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { type Certificates, makeCertificates } from '@kelpie/testkit/certificates';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers.js';

// The access log's %(b)s and %(B)s: the body bytes of each response as the app (or the fetch
// bridge) wrote them, over keep-alive connections (several responses on one socket), HTTPS/1.1
// and HTTP/2. A check for any other way of counting (the socket's bytesWritten, a response
// subclass): docs/benchmarks.md, "Access log, round 3".

const dir = mkdtempSync(join(tmpdir(), 'kelpie-log-bytes-'));
let certs: Certificates;
beforeAll(async () => {
  certs = await makeCertificates();
}, 120_000);
afterEach(stopAll);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

const FORMAT = '%(m)s %(U)s %(H)s %(s)s %(b)s %(B)s';
let count = 0;
type Shape = 'listenerApp' | 'fetchApp' | 'express';
const app = (shape: Shape) =>
  shape === 'express' ? fixture('access-bytes-express.mjs') : `${fixture('access-bytes-app.mjs')}:${shape}`;

/** kelpie with the access log in FORMAT; the log's path and lines. */
async function logging(shape: Shape, args: string[] = []) {
  const path = join(dir, `${++count}.log`);
  const kp = await startKelpie([
    '--access-logfile',
    path,
    '--access-logformat',
    FORMAT,
    ...args,
    '-w',
    '1',
    app(shape),
  ]);
  const lines = () =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line !== '');
  const logged = async (n: number) => {
    await waitUntil(() => lines().length >= n, { what: `${n} access log lines` });
    return lines();
  };
  return { url: kp.url, logged };
}

type Exchange = [method: string, path: string];

/**
 * The requests in turn over one HTTP/1.1 connection (https with the test CA when `tls`); each
 * response's body bytes as received, and the local ports used (one: the socket was kept).
 */
async function overOneConnection(url: string, requests: Exchange[], tls = false) {
  const agent = tls
    ? new HttpsAgent({
        keepAlive: true,
        maxSockets: 1,
        ca: certs.read(certs.ca),
        ALPNProtocols: ['http/1.1'],
      } as object)
    : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const received: number[] = [];
  const ports = new Set<number | undefined>();
  try {
    for (const [method, path] of requests) {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const send = tls ? httpsRequest : httpRequest;
        send(`${url}${path}`, { method, agent }, resolve).on('error', reject).end();
      });
      ports.add(res.socket.localPort);
      let bytes = 0;
      for await (const chunk of res) bytes += (chunk as Buffer).length;
      received.push(bytes);
    }
  } finally {
    agent.destroy();
  }
  return { received, ports };
}

/** The requests in turn as streams of one HTTP/2 session; each response's body bytes. */
async function overHttp2(url: string, requests: Exchange[]): Promise<number[]> {
  const session = http2Connect(url, { ca: certs.read(certs.ca) });
  session.on('error', () => {});
  const received: number[] = [];
  try {
    for (const [method, path] of requests) {
      const stream = session.request({ ':method': method, ':path': path });
      stream.end();
      let bytes = 0;
      for await (const chunk of stream) bytes += (chunk as Buffer).length;
      received.push(bytes);
    }
  } finally {
    session.close();
  }
  return received;
}

const LISTENER: Exchange[] = [
  ['GET', '/end'],
  ['GET', '/chunked'],
  ['GET', '/encoded'],
  ['GET', '/piped'],
  ['GET', '/not-modified'],
  ['GET', '/after-end'],
  ['HEAD', '/end'],
];
/** What the log says of LISTENER's responses, protocol left out. */
const LISTENER_LOGGED = [
  'GET /end 200 2 2',
  'GET /chunked 200 13 13',
  'GET /encoded 200 5 5',
  'GET /piped 200 5 5',
  'GET /not-modified 304 0 0',
  'GET /after-end 200 3 3',
  // Node sends no body for HEAD; the log counts what the app wrote, as Gunicorn does.
  'HEAD /end 200 2 2',
];

const withProtocol = (lines: string[], protocol: string) =>
  lines.map((line) => line.replace(/^(\S+ \S+) /, `$1 ${protocol} `));

describe('%(b)s and %(B)s: the body bytes of each response', () => {
  // threads: its own ServerResponse class.
  it.each(['async', 'threads'])(
    'a Node listener over one keep-alive connection (-k %s): chunked, encoded, piped, 304, writes after end, HEAD',
    async (workerClass) => {
      const kp = await logging('listenerApp', ['-k', workerClass]);
      const { received, ports } = await overOneConnection(kp.url, LISTENER);
      expect(ports.size).toBe(1);
      expect(await kp.logged(LISTENER.length)).toEqual(withProtocol(LISTENER_LOGGED, 'HTTP/1.1'));
      // What the client received, HEAD and 304 aside: what the log counted.
      expect(received).toEqual([2, 13, 5, 5, 0, 3, 0]);
    },
  );

  it.each(['async', 'threads'])(
    'an Express app, which replaces the prototype of each response (-k %s)',
    async (workerClass) => {
      const kp = await logging('express', ['-k', workerClass]);
      const requests: Exchange[] = [
        ['GET', '/send'],
        ['GET', '/json'],
        ['GET', '/end'],
      ];
      const { received } = await overOneConnection(kp.url, requests);
      expect(received).toEqual([12, 7, 6]);
      expect(await kp.logged(requests.length)).toEqual([
        'GET /send HTTP/1.1 200 12 12',
        'GET /json HTTP/1.1 200 7 7',
        'GET /end HTTP/1.1 200 6 6',
      ]);
    },
  );

  it("a fetch app: the bridge's light responses (text, JSON, no body, HEAD) and a streamed body", async () => {
    const kp = await logging('fetchApp');
    const requests: Exchange[] = [
      ['GET', '/text'],
      ['GET', '/json'],
      ['GET', '/empty'],
      ['GET', '/stream'],
      ['HEAD', '/text'],
    ];
    const { received } = await overOneConnection(kp.url, requests);
    expect(await kp.logged(requests.length)).toEqual([
      'GET /text HTTP/1.1 200 6 6',
      'GET /json HTTP/1.1 200 7 7',
      'GET /empty HTTP/1.1 204 0 0',
      'GET /stream HTTP/1.1 200 5 5',
      // The bridge writes no body for HEAD.
      'HEAD /text HTTP/1.1 200 0 0',
    ]);
    expect(received).toEqual([6, 7, 0, 5, 0]);
  });

  it('HTTP/2 streams and HTTPS/1.1 on the same listener (-k async, h2,h1)', async () => {
    const kp = await logging('listenerApp', [
      '-k',
      'async',
      '--certfile',
      certs.cert,
      '--keyfile',
      certs.key,
      '--http-protocols',
      'h2,h1',
    ]);
    // A write after end() destroys an HTTP/2 stream: left out there.
    const streams = LISTENER.filter(([, path]) => path !== '/after-end');
    const h2 = await overHttp2(kp.url, streams);
    expect(h2).toEqual([2, 13, 5, 5, 0, 0]);
    const h1 = await overOneConnection(kp.url, LISTENER, true);
    expect(h1.received).toEqual([2, 13, 5, 5, 0, 3, 0]);
    expect(await kp.logged(streams.length + LISTENER.length)).toEqual([
      ...withProtocol(
        LISTENER_LOGGED.filter((line) => !line.includes('/after-end')),
        'HTTP/2.0',
      ),
      ...withProtocol(LISTENER_LOGGED, 'HTTP/1.1'),
    ]);
  });
});
