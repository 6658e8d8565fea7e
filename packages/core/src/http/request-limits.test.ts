import type { IncomingMessage, Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestListener } from '../app/app.js';
import { defaultSettings, type Settings } from '../config/settings.js';
import { Logger } from '../observability/logger.js';
import { createConfiguredServer } from './create-server.js';
import { createFetchListener } from './fetch-bridge.js';
import { rawResponse } from './raw-response.js';
import type { RequestInfo } from './request-info.js';

// The request checks (request-limits.ts) and the parser-error answers (parser-errors.ts), on a
// real server on 127.0.0.1 fed raw bytes.

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

interface Served {
  port: number;
  /** Requests that reached the app, by URL. */
  seen: string[];
  warnings: string[];
}

async function serve(overrides: Partial<Settings> = {}, app?: RequestListener): Promise<Served> {
  const settings: Settings = {
    ...defaultSettings({}),
    limitRequestLine: 100,
    limitRequestFields: 5,
    limitRequestFieldSize: 200,
    limitRequestBody: 10,
    ...overrides,
  };
  const warnings: string[] = [];
  const log = new Logger('info', { write: (line: string) => warnings.push(line) });
  const seen: string[] = [];
  const handler: RequestListener =
    app ??
    ((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
  const server = createConfiguredServer(settings, log, (req, res) => {
    seen.push(req.url ?? '');
    return handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, seen, warnings };
}

/** Send `bytes`, and read everything the server sends until it closes the connection. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes);
  });
}

const statusOf = (response: string): number => Number(response.slice(9, 12));
const get = (target: string, fields = 'Host: x\r\n') => `GET ${target} HTTP/1.1\r\n${fields}Connection: close\r\n\r\n`;

describe('request limits', () => {
  it('serves a request within every limit', async () => {
    const { port, seen } = await serve();
    const response = await exchange(port, get('/fine'));
    expect(statusOf(response)).toBe(200);
    expect(response.endsWith('ok')).toBe(true);
    expect(seen).toEqual(['/fine']);
  });

  it.each([
    ['a request line over --limit-request-line', get(`/${'a'.repeat(100)}`), 414, /over --limit-request-line 100/],
    [
      'more header fields than --limit-request-fields',
      get('/', 'Host: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n'),
      431,
      /more than 5 header fields/,
    ],
    [
      'a field over --limit-request-field_size',
      get('/', `Host: x\r\nX-Big: ${'b'.repeat(200)}\r\n`),
      431,
      /header field X-Big of 207 bytes is over --limit-request-field_size 200/,
    ],
    [
      'a Content-Length over --limit-request-body',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world',
      413,
      /body of 11 bytes is over --limit-request-body 10/,
    ],
    ['an HTTP/1.1 request without Host', 'GET / HTTP/1.1\r\n\r\n', 400, /without a Host header/],
    ['a repeated Host', get('/', 'Host: a\r\nHost: b\r\n'), 400, /Host header repeated/],
    [
      'a transfer coding other than chunked',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      501,
      /unsupported transfer coding "gzip"/,
    ],
    [
      'a chunked body in HTTP/1.0',
      'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      /chunked body in an HTTP\/1\.0 request/,
    ],
  ])('refuses %s before the app sees it', async (_what, bytes, status, reason) => {
    const { port, seen, warnings } = await serve();
    const response = await exchange(port, bytes);
    expect(statusOf(response)).toBe(status);
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    expect(response.split('\r\n\r\n')[1]).toMatch(reason);
    expect(seen).toEqual([]);
    expect(warnings.join('')).toMatch(/Invalid request from ip=127\.0\.0\.1/);
  });

  it('counts a chunked body as it comes: 413 past --limit-request-body, the rest never reaches the app', async () => {
    let received = '';
    let request: IncomingMessage | undefined;
    const { port } = await serve({}, (req) => {
      request = req;
      req.on('data', (chunk: Buffer) => {
        received += chunk.toString();
      });
    });
    const body = '6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n';
    const response = await exchange(port, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    expect(statusOf(response)).toBe(413);
    expect(response).toMatch(/chunked body passed --limit-request-body 10 bytes/);
    expect(received).toBe('abcdef');
    // The app's request never ends normally.
    expect(request?.readableEnded).toBe(false);
  });

  it('refuses a forbidden trailer field with 400', async () => {
    const { port } = await serve({ limitRequestBody: 0 }, (req, res) => {
      req.resume();
      req.on('end', () => res.end('should not happen'));
    });
    const response = await exchange(
      port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nCookie: a=b\r\n\r\n',
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toMatch(/Cookie in the trailer/i);
  });

  it('a limit of 0 is none', async () => {
    const { port, seen } = await serve({ limitRequestLine: 0, limitRequestFields: 0, limitRequestFieldSize: 0 });
    const fields = Array.from({ length: 20 }, (_, i) => `X-${i}: ${'v'.repeat(300)}\r\n`).join('');
    const response = await exchange(port, get(`/${'a'.repeat(300)}`, `Host: x\r\n${fields}`));
    expect(statusOf(response)).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it('refuses CONNECT with 501 on the socket', async () => {
    const { port } = await serve();
    const response = await exchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    const body = 'Not Implemented: CONNECT is not served (kelpie is not a proxy)\n';
    expect(response).toBe(rawResponse(501, body));
  });
});

describe('parser errors', () => {
  it('a head over what the limits allow together is 431, in raw bytes, and the worker serves on', async () => {
    const { port, seen } = await serve({ limitRequestLine: 20, limitRequestFields: 1, limitRequestFieldSize: 20 });
    const response = await exchange(port, get('/', `Host: x\r\nX: ${'y'.repeat(100)}\r\n`));
    expect(response).toBe(rawResponse(431, 'Request Header Fields Too Large: Parse Error: Header overflow\n'));
    expect(seen).toEqual([]);
    expect(statusOf(await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(200);
  });

  it('a malformed field is 400 with the parser reason', async () => {
    const { port } = await serve();
    const response = await exchange(port, get('/', 'Host: x\r\nBad Name: 1\r\n'));
    expect(response).toBe(rawResponse(400, 'Bad Request: Parse Error: Invalid header token\n'));
  });

  it('a well-formed method Node does not know is 501; a malformed one 400', async () => {
    const { port } = await serve();
    expect(statusOf(await exchange(port, 'BREW / HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(501);
    expect(statusOf(await exchange(port, 'get / HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(400);
  });

  it('a pipelined bad request is answered after the good one before it', async () => {
    const { port, seen } = await serve();
    const response = await exchange(
      port,
      `GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nBad Name: 1\r\n\r\n`,
    );
    const first = response.indexOf('HTTP/1.1 200 OK');
    const second = response.indexOf('HTTP/1.1 400 Bad Request');
    expect(first).toBe(0);
    expect(second).toBeGreaterThan(first);
    expect(seen).toEqual(['/first']);
  });

  it('an incomplete head is answered 408 after --header-timeout', async () => {
    const { port } = await serve({ headerTimeout: 1 });
    const response = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n');
    expect(response).toBe(rawResponse(408, 'Request Timeout: Request timeout\n'));
  });
});

describe('the forwarded scheme, worked out once', () => {
  // The limits check the secure-scheme headers (a conflict is refused) and hold the answer while
  // the listener runs; the fetch bridge builds request.url from it, and works it out again for a
  // URL first read after the listener returned.
  const trusted = { forwardedAllowIps: ['127.0.0.1'] };
  const fetchApp = createFetchListener(async (request, info) => {
    // request.url not read before the await for /late...: it is worked out after the listener returned.
    if ((info as RequestInfo).incoming.url?.startsWith('/late')) await new Promise((resolve) => setImmediate(resolve));
    return new Response(request.url);
  });

  it('gives request.url the scheme a trusted proxy sent, read during the listener or after it', async () => {
    const { port } = await serve(trusted, fetchApp);
    const proto = (value: string) => `Host: x\r\nX-Forwarded-Proto: ${value}\r\n`;
    // Pipelined on one connection: each request gets its own answer, none leaks into the next.
    const response = await exchange(
      port,
      `GET /now HTTP/1.1\r\n${proto('https')}\r\n` +
        `GET /plain HTTP/1.1\r\nHost: x\r\n\r\n` +
        `GET /late HTTP/1.1\r\n${proto('https')}\r\n` +
        get('/late-plain', proto('http')),
    );
    const urls = response.match(/https?:\/\/x\/[a-z-]+/g);
    expect(urls).toEqual(['https://x/now', 'http://x/plain', 'https://x/late', 'http://x/late-plain']);
  });

  it('refuses contradictory scheme headers from a trusted proxy before the app sees them', async () => {
    const { port, seen } = await serve(trusted, fetchApp);
    const fields = 'Host: x\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n';
    expect(statusOf(await exchange(port, get('/both', fields)))).toBe(400);
    expect(seen).toEqual([]);
  });
});
