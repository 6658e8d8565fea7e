import { readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type KelpieProcess, startKelpie, stopAll } from '@kelpie/testkit';
import { type Certificates, makeCertificates, tlsArgs } from '@kelpie/testkit/certificates';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers.js';

// The HTTP/1 parser over raw sockets: what reaches the app after a refusal, the order of answers
// in a pipeline, and Gunicorn's own parser corpus replayed against a real kelpie.

interface Response {
  status: number;
  head: string;
  body: string;
}

interface Exchange {
  responses: Response[];
  /** Bytes after the last complete response (a response cut short). */
  rest: string;
  closed: boolean;
}

/** Complete responses in `data` (bodies framed by Content-Length; 1xx interim responses skipped). */
function parseResponses(data: string): { responses: Response[]; rest: string } {
  const responses: Response[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const head = data.slice(at, end);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (status >= 100 && status < 200) {
      at = end + 4;
      continue;
    }
    if (!length) {
      // No length: the body runs to the close (only kelpie's own answers could do this; none do).
      break;
    }
    const bodyEnd = end + 4 + Number(length[1]);
    if (data.length < bodyEnd) break;
    responses.push({ status, head, body: data.slice(end + 4, bodyEnd) });
    at = bodyEnd;
  }
  return { responses, rest: data.slice(at) };
}

/**
 * Send `bytes` on a fresh connection and collect the answers until the server closes the
 * connection or `enough` responses have come. `halfClose` ends the sending side after the bytes
 * (a request cut short is then seen as such rather than waited for).
 */
function exchange(
  url: string,
  bytes: Buffer | string,
  { halfClose = false, enough = Number.POSITIVE_INFINITY, timeoutMs = 15_000 } = {},
): Promise<Exchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let data = '';
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parseResponses(data), closed });
    };
    const socket = connect(Number(port), hostname, () => {
      socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
      if (halfClose) socket.end();
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`No close and only some responses within ${timeoutMs} ms; got: ${JSON.stringify(data)}`));
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (parseResponses(data).responses.length >= enough) finish(false);
    });
    socket.on('close', () => finish(true));
    // A reset after the answer (the server closed with unread bytes): what came is the answer.
    socket.on('error', () => finish(true));
  });
}

/**
 * What parser-app.js saw so far: handler calls, and bodies read to their end. Asked in HTTP/1.0
 * with no field at all, which passes the smallest limits the corpus sets.
 */
async function counts(url: string): Promise<{ calls: number; completes: number }> {
  const reply = await exchange(url, 'GET /__parser-app/count HTTP/1.0\r\n\r\n');
  return JSON.parse(reply.responses[0]?.body ?? 'null') as { calls: number; completes: number };
}

afterAll(stopAll);

describe('after a refusal nothing more from the connection reaches the app', () => {
  let kp: KelpieProcess;
  beforeAll(async () => {
    kp = await startKelpie([
      '-w',
      '1',
      '--limit-request-line',
      '100',
      '--limit-request-body',
      '10',
      fixture('parser-app.js'),
    ]);
  });

  const next = 'GET /pipelined-after-refusal HTTP/1.1\r\nHost: x\r\n\r\n';
  it.each([
    ['400 (HTTP/1.1 without Host)', 'GET /refused HTTP/1.1\r\n\r\n', 400],
    ['400 (a second Host)', 'GET /refused HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    [
      '413 (Content-Length over --limit-request-body)',
      'POST /refused HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world',
      413,
    ],
    ['414 (request line over --limit-request-line)', `GET /${'a'.repeat(100)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
    [
      '501 (a transfer coding kelpie does not implement)',
      'POST /refused HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
      501,
    ],
    [
      '413 (chunked body over --limit-request-body, app already reading)',
      'POST /refused HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n',
      413,
    ],
  ])('%s', async (_name, refused, status) => {
    const before = await counts(kp.url);
    const reply = await exchange(kp.url, refused + next);
    expect(reply.responses.map((r) => r.status)).toEqual([status]);
    expect(reply.responses[0]?.head).toMatch(/\r\nConnection: close/i);
    expect(reply.closed).toBe(true);
    const after = await counts(kp.url);
    // The chunked 413 comes while the app reads the body: that request reached it, the next did not.
    const reached = status === 413 && refused.includes('chunked') ? 1 : 0;
    expect(after.calls - before.calls).toBe(reached);
    expect(after.completes).toBe(before.completes);
  });

  it('a request after one that asked to close (Connection: close, HTTP/1.0) is not processed (RFC 9112 9.6)', async () => {
    for (const last of ['GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'GET /last HTTP/1.0\r\n\r\n']) {
      const before = await counts(kp.url);
      const reply = await exchange(kp.url, last + next);
      expect(reply.responses.map((r) => r.status)).toEqual([200]);
      expect(JSON.parse(reply.responses[0]?.body ?? '{}').url).toBe('/last');
      expect(reply.closed).toBe(true);
      expect((await counts(kp.url)).calls - before.calls).toBe(1);
    }
  });
});

describe('a parse error in a pipeline is answered after the requests before it (RFC 9112 9.3.2)', () => {
  let kp: KelpieProcess;
  beforeAll(async () => {
    kp = await startKelpie(['-w', '1', fixture('parser-app.js')]);
  });

  it.each([
    ['a malformed request line', 'GET /next HTTP/9.x\r\nHost: x\r\n\r\n', 400],
    ['an unknown method', 'BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n', 501],
    ['a header name that is not a token', 'GET /next HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', 400],
  ])('%s after a slow request', async (_name, bad, status) => {
    const slow = 'GET /sleep?ms=300 HTTP/1.1\r\nHost: x\r\n\r\nGET /quick HTTP/1.1\r\nHost: x\r\n\r\n';
    const reply = await exchange(kp.url, slow + bad);
    expect(reply.responses.map((r) => r.status)).toEqual([200, 200, status]);
    expect(reply.responses.map((r) => JSON.parse(r.body.startsWith('{') ? r.body : '{}').url)).toEqual([
      '/sleep?ms=300',
      '/quick',
      undefined,
    ]);
    expect(reply.responses[2]?.head).toMatch(/\r\nConnection: close/i);
    expect(reply.closed).toBe(true);
  });
});

// Gunicorn 26.1.0's parser corpus (tests/requests/valid and invalid), as data: test/corpus/gunicorn-requests.json.

interface Expected {
  /** Every request answered, one response each, with these statuses. */
  statuses?: number[];
  /** After those responses the server closes the connection (HTTP/1.0, Connection: close). */
  closes?: boolean;
  /** Refused: this status (0: the connection closed without an answer). */
  refused?: number;
  /** Where the refusal happens: "head" (the app is never called) or "body" (called, never gets the whole body). */
  stage?: 'head' | 'body';
  /** Why kelpie's outcome differs from Gunicorn's. */
  reason?: string;
}

interface CorpusCase {
  file: string;
  variant?: string;
  request: string;
  args: string[];
  gunicorn: string | { method: string; target: string; version: string; body: string }[];
  expect: Expected;
}

interface Corpus {
  source: string;
  defaultArgs: string[];
  cases: CorpusCase[];
}

const corpus = JSON.parse(readFileSync(new URL('./corpus/gunicorn-requests.json', import.meta.url), 'utf8')) as Corpus;

describe(`${corpus.source}: replayed over a socket`, () => {
  const servers = new Map<string, Promise<KelpieProcess>>();
  const serverFor = (args: string[]) => {
    const key = args.join(' ');
    let server = servers.get(key);
    if (!server) {
      server = startKelpie(['-w', '1', ...corpus.defaultArgs, ...args, fixture('parser-app.js')]);
      servers.set(key, server);
    }
    return server;
  };

  const title = (c: CorpusCase) =>
    `${c.file}${c.variant ? ` (${c.variant})` : ''}: ${
      c.expect.statuses ? `answered ${c.expect.statuses.join(', ')}` : `refused ${c.expect.refused || 'by closing'}`
    }`;

  it.each(corpus.cases.map((c) => [title(c), c] as const))('%s', async (_title, c) => {
    const kp = await serverFor(c.args);
    const before = await counts(kp.url);
    const expected = c.expect;
    if (expected.statuses) {
      // A connection that closes is read to its end: nothing may follow the expected answers.
      const reply = await exchange(kp.url, c.request, expected.closes ? {} : { enough: expected.statuses.length });
      expect(reply.responses.map((r) => r.status)).toEqual(expected.statuses);
      if (expected.closes) expect(reply.closed).toBe(true);
      const requests = Array.isArray(c.gunicorn) ? c.gunicorn : [];
      for (const [i, response] of reply.responses.entries()) {
        const want = requests[i];
        if (!want || response.status !== 200) continue;
        const seen = JSON.parse(response.body) as { method: string; url: string; version: string; body: string };
        expect(seen.method).toBe(want.method);
        expect(seen.url).toBe(want.target);
        expect(seen.version).toBe(want.version);
        expect(Buffer.from(seen.body, 'base64').toString('latin1')).toBe(want.body);
      }
      expect(reply.rest).toBe('');
      return;
    }
    const reply = await exchange(kp.url, c.request, { halfClose: true });
    const statuses = reply.responses.map((r) => r.status);
    expect(reply.closed).toBe(true);
    if (expected.refused) expect(statuses.at(-1)).toBe(expected.refused);
    else expect(statuses).toEqual([]);
    expect(statuses.filter((s) => s < 400)).toEqual([]);
    const after = await counts(kp.url);
    expect(after.completes).toBe(before.completes);
    if (expected.stage !== 'body') expect(after.calls).toBe(before.calls);
  });
});

// HTTP/2 over TLS: the same field policy. Node's own HTTP/2 client will not send a repeated
// single-value field, so these requests are framed by hand (HPACK literals without indexing).
// The outcome is read from the response body: kelpie's refusals say their status in words.

/** An HPACK integer with an N-bit prefix (RFC 7541 5.1). */
function hpackInteger(value: number, prefixBits: number, first = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const bytes = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

function hpackBlock(fields: [string, string][]): Buffer {
  const bytes: number[] = [];
  for (const [name, value] of fields) {
    bytes.push(0x00, ...hpackInteger(name.length, 7), ...Buffer.from(name, 'latin1'));
    bytes.push(...hpackInteger(value.length, 7), ...Buffer.from(value, 'latin1'));
  }
  return Buffer.from(bytes);
}

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

const END_STREAM = 0x1;
const END_HEADERS = 0x4;

/**
 * One HTTP/2 request on stream 1 of a new connection, fields as given (pseudo-fields first);
 * resolves with the response body, and whether the stream was reset.
 */
function h2Exchange(
  url: string,
  ca: Buffer,
  fields: [string, string][],
  { body, trailers }: { body?: string; trailers?: [string, string][] } = {},
): Promise<{ body: string; reset: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: hostname,
      port: Number(port),
      ca,
      servername: 'localhost',
      ALPNProtocols: ['h2'],
    });
    let data = Buffer.alloc(0);
    let text = '';
    let settled = false;
    const finish = (reset: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ body: text, reset });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`No end of stream 1 within 15 s; body so far: ${JSON.stringify(text)}`));
    }, 15_000);
    socket.on('secureConnect', () => {
      const hasBody = body !== undefined || trailers !== undefined;
      const parts = [
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        frame(0x4, 0, 0),
        frame(0x1, END_HEADERS | (hasBody ? 0 : END_STREAM), 1, hpackBlock(fields)),
      ];
      if (body !== undefined) parts.push(frame(0x0, trailers ? 0 : END_STREAM, 1, Buffer.from(body)));
      if (trailers) parts.push(frame(0x1, END_HEADERS | END_STREAM, 1, hpackBlock(trailers)));
      socket.write(Buffer.concat(parts));
    });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      while (data.length >= 9) {
        const length = data.readUIntBE(0, 3);
        if (data.length < 9 + length) break;
        const [type, flags] = [data[3] as number, data[4] as number];
        const stream = data.readUInt32BE(5) & 0x7fffffff;
        const payload = data.subarray(9, 9 + length);
        data = data.subarray(9 + length);
        if (type === 0x4 && !(flags & 0x1)) socket.write(frame(0x4, 0x1, 0));
        if (stream !== 1) {
          if (type === 0x7) finish(true);
          continue;
        }
        if (type === 0x0) text += payload.toString('latin1');
        if (type === 0x3) finish(true);
        else if ((type === 0x0 || type === 0x1) && flags & END_STREAM) finish(false);
      }
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

describe('HTTP/2 requests get the same field policy', () => {
  let certs: Certificates;
  let kp: KelpieProcess;
  beforeAll(async () => {
    certs = await makeCertificates();
    kp = await startKelpie(['-w', '1', ...tlsArgs(certs, 'h2,h1'), fixture('parser-app.js')]);
  }, 120_000);
  afterAll(() => {
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  const request = (method: string, path: string, extra: [string, string][] = []): [string, string][] => [
    [':method', method],
    [':scheme', 'https'],
    [':authority', 'localhost'],
    [':path', path],
    ...extra,
  ];
  const h2Counts = async () =>
    JSON.parse((await h2Exchange(kp.url, certs.read(certs.ca), request('GET', '/__parser-app/count'))).body) as {
      calls: number;
      completes: number;
    };

  it('a plain request is served (the raw client works)', async () => {
    const reply = await h2Exchange(kp.url, certs.read(certs.ca), request('GET', '/fine'));
    expect(JSON.parse(reply.body)).toMatchObject({ method: 'GET', url: '/fine', version: '2.0' });
  });

  // 'reset': Node's HTTP/2 layer (nghttp2) refuses the stream itself, before kelpie sees it.
  it.each([
    [
      'a repeated host',
      request('GET', '/x', [
        ['host', 'localhost'],
        ['host', 'evil.example'],
      ]),
      'reset' as const,
    ],
    [
      'host naming another authority than :authority',
      request('GET', '/x', [['host', 'evil.example']]),
      /^Bad Request: host "evil\.example" differs from :authority "localhost"/,
    ],
    [
      'a repeated content-type',
      request('POST', '/x', [
        ['content-type', 'text/plain'],
        ['content-type', 'application/json'],
      ]),
      /^Bad Request: content-type header repeated/,
    ],
    [
      'a repeated authorization',
      request('GET', '/x', [
        ['authorization', 'Basic YTpi'],
        ['authorization', 'Basic Yzpk'],
      ]),
      /^Bad Request: authorization header repeated/,
    ],
    ['an unknown method', request('BREW', '/pot'), /^Not Implemented: unknown method BREW/],
    ['the asterisk-form with GET', request('GET', '*'), 'reset' as const],
  ])('%s is refused before the app', async (_name, fields, answer) => {
    const before = await h2Counts();
    const reply = await h2Exchange(kp.url, certs.read(certs.ca), fields);
    if (answer === 'reset') expect(reply).toEqual({ body: '', reset: true });
    else expect(reply.body).toMatch(answer);
    expect((await h2Counts()).calls).toBe(before.calls);
  });

  it('a forbidden field in the trailer aborts the request: the app never sees its body end', async () => {
    const before = await h2Counts();
    const reply = await h2Exchange(kp.url, certs.read(certs.ca), request('POST', '/upload'), {
      body: 'hello',
      trailers: [['host', 'evil.example']],
    });
    expect(reply.body).toMatch(/^Bad Request: host in the trailer/);
    const after = await h2Counts();
    expect(after.calls - before.calls).toBe(1);
    expect(after.completes).toBe(before.completes);
    // An allowed trailer field passes, and the app sees it.
    const fine = await h2Exchange(kp.url, certs.read(certs.ca), request('POST', '/upload'), {
      body: 'hello',
      trailers: [['x-checksum', 'abc']],
    });
    expect(JSON.parse(fine.body)).toMatchObject({
      body: Buffer.from('hello').toString('base64'),
      trailers: ['x-checksum', 'abc'],
    });
  });
});
