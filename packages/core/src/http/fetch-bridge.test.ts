import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspect } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Response as NodeFetchResponse } from 'node-fetch';
import { Response as UndiciResponse } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetchListener, type FetchBridgeOptions, type FetchHandler } from './fetch-bridge.js';

// Loaded without its types, which pull in the DOM library and change the global fetch types.
const { Response: WhatwgResponse } = createRequire(import.meta.url)('@whatwg-node/fetch') as {
  Response: new (body: string, init: ResponseInit) => object;
};

const MB = 1024 * 1024;
const BIG = 50 * MB;
const CHUNK = 64 * 1024;

const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface Served {
  origin: string;
  port: number;
  server: Server;
  errors: unknown[];
}

/** Starts a server on an ephemeral port; errors go to `errors` unless options.onError is given. */
async function serve(handler: FetchHandler, options: FetchBridgeOptions = {}): Promise<Served> {
  const errors: unknown[] = [];
  const server = createServer(createFetchListener(handler, { onError: (error) => errors.push(error), ...options }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, port, server, errors };
}

/** A promise with its resolve function, for waiting on events without sleeping. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Opens a raw TCP connection that afterEach destroys. */
async function rawSocket(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  await once(socket, 'connect');
  return socket;
}

/** Sends `text` on a fresh connection and returns everything the server sends until it closes. */
async function rawExchange(port: number, text: string): Promise<string> {
  const socket = await rawSocket(port);
  socket.setEncoding('latin1');
  let received = '';
  socket.on('data', (data: string) => {
    received += data;
  });
  socket.write(text);
  await once(socket, 'close');
  return received;
}

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  reusedSocket: boolean;
}

function get(
  url: string,
  options: { headers?: Record<string, string | string[]>; agent?: Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (data: string) => {
        body += data;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function keepAliveAgent(): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  return agent;
}

/**
 * Measures RSS growth while bytes stream through. Two kinds of noise would swamp the number:
 * garbage chunks V8 has not collected yet (a plain `node:http` 'data' loop shows ~40 MB for
 * 50 MB), so the probe collects garbage every few samples and reads RSS right after; and the
 * allocator growing to its working size on the first big transfer, so callers warm up first and
 * call start() afterwards. What remains is memory the bridge holds on to: 0-5 MB here (up to
 * ~18 MB with other test runs competing for the CPU), while reading the same upload with
 * arrayBuffer() measures ~150 MB. RSS stays a coarse signal; the tests also check that producer
 * and consumer never drift more than socket buffers apart, which is what buffering would break.
 */
/**
 * Memory the process still holds after a full GC: the JS heap plus the bytes of live Buffers and
 * ArrayBuffers. A bridge that kept the body's chunks would grow it by the body's size. Resident
 * memory (RSS) is not used: how much of the freed memory the allocator and V8 give back to the
 * system depends on timing and on what ran before in the process, not on the code under test.
 */
function memoryProbe(): { start: () => void; sample: () => void; growth: () => number } {
  const gc = exposeGc();
  const held = () => {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
  let base = 0;
  let peak = 0;
  let samples = 0;
  return {
    start: () => {
      gc();
      base = held();
      peak = base;
    },
    sample: () => {
      samples += 1;
      if (base === 0 || samples % 32 !== 0) return;
      gc();
      peak = Math.max(peak, held());
    },
    growth: () => peak - base,
  };
}

function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('request', () => {
  it('exposes method, absolute url and headers (repeated ones included) and is a Request', async () => {
    const seen = deferred<Record<string, unknown>>();
    const { origin } = await serve((request) => {
      const headers = request.headers;
      seen.resolve({
        isRequest: request instanceof Request,
        tag: Object.prototype.toString.call(request),
        method: request.method,
        url: request.url,
        multi: request.headers.get('x-multi'),
        agent: request.headers.get('user-agent'),
        headersSame: headers === request.headers,
      });
      return new Response('ok');
    });
    const reply = await get(`${origin}/path/to?x=1&y=two`, {
      headers: { 'x-multi': ['a', 'b'], 'user-agent': 'kelpie-test' },
    });
    expect(reply.status).toBe(200);
    expect(await seen.promise).toEqual({
      isRequest: true,
      tag: '[object Request]',
      method: 'GET',
      url: `${origin}/path/to?x=1&y=two`,
      multi: 'a, b',
      agent: 'kelpie-test',
      headersSame: true,
    });
  });

  it('uses the scheme option, falls back to the local address for a missing or unsafe Host, keeps absolute-form targets', async () => {
    const urls: string[] = [];
    const { port } = await serve(
      (request) => {
        urls.push(request.url);
        return new Response('ok');
      },
      { scheme: () => 'https' },
    );
    await rawExchange(port, 'GET /a?b=c HTTP/1.0\r\n\r\n');
    await rawExchange(port, 'GET /real HTTP/1.1\r\nHost: evil.example/x?\r\nConnection: close\r\n\r\n');
    await rawExchange(port, 'GET /ok HTTP/1.1\r\nHost: example.com:8443\r\nConnection: close\r\n\r\n');
    await rawExchange(port, 'GET http://proxied.example/p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(urls).toEqual([
      `https://127.0.0.1:${port}/a?b=c`,
      `https://127.0.0.1:${port}/real`,
      'https://example.com:8443/ok',
      'http://proxied.example/p',
    ]);
  });

  it('reads a JSON body with request.json() and supports the other Request members', async () => {
    const seen = deferred<Record<string, unknown>>();
    const { origin } = await serve(async (request) => {
      const usedBefore = request.bodyUsed;
      const copy = request.clone();
      const json = await request.json();
      seen.resolve({
        json,
        copy: await copy.text(),
        usedBefore,
        usedAfter: request.bodyUsed,
        cache: request.cache,
        credentials: request.credentials,
        duplex: (request as Request & { duplex?: string }).duplex,
        contentType: request.headers.get('content-type'),
        inspected: inspect(request).startsWith('Request {'),
      });
      return Response.json({ received: json });
    });
    const response = await fetch(`${origin}/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'kelpie', legs: 4 }),
    });
    expect(await response.json()).toEqual({ received: { name: 'kelpie', legs: 4 } });
    expect(await seen.promise).toEqual({
      json: { name: 'kelpie', legs: 4 },
      copy: '{"name":"kelpie","legs":4}',
      usedBefore: false,
      usedAfter: true,
      cache: 'default',
      credentials: 'same-origin',
      duplex: 'half',
      contentType: 'application/json',
      inspected: true,
    });
  });

  it('parses a form with request.formData() and has no body for GET', async () => {
    const { origin } = await serve(async (request) => {
      if (request.method === 'GET') return new Response(String(request.body));
      const form = await request.formData();
      return new Response(`${form.get('a')}|${form.getAll('b').join(',')}`);
    });
    const posted = await fetch(origin, { method: 'POST', body: new URLSearchParams('a=1&b=2&b=3') });
    expect(await posted.text()).toBe('1|2,3');
    expect(await (await fetch(origin)).text()).toBe('null');
  });

  it('streams a 50 MB upload through request.body without buffering it', async () => {
    let sent = 0;
    let received = 0;
    let maxLead = 0;
    const memory = memoryProbe();
    const { origin } = await serve(async (request) => {
      let bytes = 0;
      const reader = (request.body as ReadableStream<Uint8Array>).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        bytes += r.value.byteLength;
        received += r.value.byteLength;
        memory.sample();
      }
      return Response.json({ bytes });
    });
    await upload(origin, 16 * MB);
    sent = 0;
    received = 0;
    memory.start();
    const reply = await upload(origin, BIG, (bytes) => {
      sent += bytes;
      maxLead = Math.max(maxLead, sent - received);
    });
    expect(JSON.parse(reply)).toEqual({ bytes: BIG });
    // The handler sees bytes while the client is still sending them (socket buffers only).
    expect(maxLead).toBeLessThan(16 * MB);
    expect(memory.growth()).toBeLessThan(25 * MB);
  }, 20_000);

  it('keeps the connection usable when the body is left unread, even after the real Request was built', async () => {
    const { origin } = await serve((request) => {
      if (request.headers.get('x-touch') === '1') void request.cache;
      return new Response('ok');
    });
    const agent = keepAliveAgent();
    for (const touch of ['0', '1']) {
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(origin, { method: 'POST', agent, headers: { 'x-touch': touch } }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end(Buffer.alloc(256 * 1024));
      });
    }
    const last = await get(origin, { agent });
    expect(last).toMatchObject({ status: 200, body: 'ok', reusedSocket: true });
  });

  it('lets the handler cancel the body, answer, and serve the next request on the connection', async () => {
    const { port } = await serve(async (request) => {
      if (request.method === 'GET') return new Response('next');
      const reader = (request.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      await reader.cancel();
      return new Response('too large', { status: 413 });
    });
    const size = 4 * MB;
    const socket = await rawSocket(port);
    socket.setEncoding('latin1');
    let received = '';
    const both = new Promise<void>((resolve) => {
      socket.on('data', (data: string) => {
        received += data;
        if (received.endsWith('next')) resolve();
      });
    });
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    socket.write(Buffer.alloc(size, 'k'));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await both;
    expect(received).toMatch(/^HTTP\/1\.1 413 [\s\S]*too largeHTTP\/1\.1 200 OK[\s\S]*next$/);
  });

  it('fails a body read that starts after Node discarded the unread body', async () => {
    const stashed = deferred<Request>();
    const { origin } = await serve((request) => {
      stashed.resolve(request);
      return new Response('answered without reading');
    });
    const response = await fetch(origin, { method: 'POST', body: 'ignored' });
    expect(await response.text()).toBe('answered without reading');
    await expect((await stashed.promise).text()).rejects.toThrow(TypeError);
  });

  it.skipIf(!('bytes' in Request.prototype))(
    'delegates members added by newer Node versions, such as bytes()',
    async () => {
      const { origin } = await serve(async (request) => {
        const bytes = await (request as Request & { bytes(): Promise<Uint8Array> }).bytes();
        return new Response(String(bytes.byteLength));
      });
      expect(await (await fetch(origin, { method: 'PUT', body: 'twelve bytes' })).text()).toBe('12');
    },
  );

  it('echoes a streamed request body back as the response body', async () => {
    const { origin } = await serve((request) => new Response(request.body));
    const reply = await upload(origin, 8 * MB);
    expect(reply.length).toBe(8 * MB);
  });
});

/** POSTs `total` bytes streamed from a generator; resolves with the response body. */
async function upload(origin: string, total: number, onChunk?: (bytes: number) => void): Promise<string> {
  function* chunks(): Generator<Buffer> {
    const chunk = Buffer.alloc(CHUNK, 'k');
    for (let sent = 0; sent < total; sent += CHUNK) {
      const size = Math.min(CHUNK, total - sent);
      onChunk?.(size);
      yield chunk.subarray(0, size);
    }
  }
  const req = httpRequest(origin, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
  });
  const response = once(req, 'response') as Promise<[IncomingMessage]>;
  const sending = pipeline(Readable.from(chunks()), req);
  const [res] = await response;
  expect(res.statusCode).toBe(200);
  res.setEncoding('latin1');
  let body = '';
  for await (const data of res) body += data;
  await sending;
  return body;
}

describe('response', () => {
  it('streams a 50 MB ReadableStream with backpressure and bounded memory', async () => {
    let produced = 0;
    let received = 0;
    let maxLead = 0;
    const memory = memoryProbe();
    const { origin } = await serve((request) => {
      const total = Number(new URL(request.url).searchParams.get('bytes'));
      let left = total;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (left <= 0) {
              controller.close();
              return;
            }
            controller.enqueue(new Uint8Array(CHUNK).fill(left % 251));
            left -= CHUNK;
            produced += CHUNK;
            maxLead = Math.max(maxLead, produced - received);
            memory.sample();
          },
        }),
      );
    });
    const download = async (bytes: number): Promise<Response> => {
      const response = await fetch(`${origin}/?bytes=${bytes}`);
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        received += r.value.byteLength;
        memory.sample();
      }
      return response;
    };
    await download(16 * MB);
    produced = 0;
    received = 0;
    maxLead = 0;
    memory.start();
    const response = await download(BIG);
    expect(received).toBe(BIG);
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    // Without backpressure the producer would run far ahead of what the client has read.
    expect(maxLead).toBeLessThan(16 * MB);
    expect(memory.growth()).toBeLessThan(25 * MB);
  }, 20_000);

  it('sends a single-chunk body with a Content-Length', async () => {
    const { origin, port } = await serve(() => new Response('hello', { status: 201, statusText: 'Made It' }));
    const reply = await get(origin);
    expect(reply).toMatchObject({ status: 201, body: 'hello' });
    expect(reply.headers['content-length']).toBe('5');
    expect(reply.headers['transfer-encoding']).toBeUndefined();
    const raw = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(raw.startsWith('HTTP/1.1 201 Made It\r\n')).toBe(true);
  });

  it('writes a response whose headers the app changed (as Hono middleware does) with its body whole', async () => {
    const { origin, port } = await serve(async (request) => {
      const route = new URL(request.url).pathname;
      const response = new Response('hello', { headers: { 'x-early': '1' } });
      if (route === '/cloned') return response.clone() && response;
      if (route === '/read') await response.text();
      response.headers.set('x-late', '2');
      response.headers.append('set-cookie', 'a=1');
      response.headers.append('set-cookie', 'b=2');
      return response;
    });
    const changed = await get(`${origin}/changed`);
    expect(changed).toMatchObject({ status: 200, body: 'hello' });
    expect(changed.headers).toMatchObject({
      'x-early': '1',
      'x-late': '2',
      'content-type': 'text/plain;charset=UTF-8',
      'content-length': '5',
      'set-cookie': ['a=1', 'b=2'],
    });
    expect(await get(`${origin}/cloned`)).toMatchObject({ status: 200, body: 'hello' });
    const head = await rawExchange(port, 'HEAD /changed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(head.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(head).toContain('x-late: 2\r\n');
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    // A body the app already read cannot be sent again: 500, as for any used Response.
    expect((await get(`${origin}/read`)).status).toBe(500);
  });

  it('sends ArrayBuffer and view bodies whole, with a Content-Length and only the viewed bytes', async () => {
    const bytes = new TextEncoder().encode('--hello--');
    const bodies = [bytes.buffer, new DataView(bytes.buffer, 2, 5), new Uint16Array(bytes.buffer.slice(0, 8), 2, 1)];
    const { origin } = await serve(
      (request) => new Response(bodies[Number(new URL(request.url).searchParams.get('i'))]),
    );
    const replies = await Promise.all(bodies.map((_, i) => get(`${origin}/?i=${i}`)));
    expect(
      replies.map((reply) => [reply.body, reply.headers['content-length'], reply.headers['content-type']]),
    ).toEqual([
      ['--hello--', '9', undefined],
      ['hello', '5', undefined],
      ['he', '2', undefined],
    ]);
  });

  it('sends the first chunk of a slow stream before the stream ends', async () => {
    const firstArrived = deferred();
    const { origin } = await serve(
      () =>
        new Response(
          new ReadableStream({
            async start(controller) {
              controller.enqueue(new TextEncoder().encode('first,'));
              await firstArrived.promise;
              controller.enqueue(new TextEncoder().encode('second'));
              controller.close();
            },
          }),
          { headers: { 'content-type': 'text/event-stream' } },
        ),
    );
    const reply = await new Promise<Reply>((resolve, reject) => {
      httpRequest(origin, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (data: string) => {
          body += data;
          firstArrived.resolve();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: false }));
      })
        .on('error', reject)
        .end();
    });
    expect(reply.body).toBe('first,second');
    expect(reply.headers['content-type']).toBe('text/event-stream');
  });

  it('keeps multiple set-cookie headers separate', async () => {
    const { origin } = await serve(() => {
      const headers = new Headers({ 'x-one': '1' });
      headers.append('set-cookie', 'a=1; Path=/');
      headers.append('set-cookie', 'b=2; HttpOnly');
      return new Response(null, { headers });
    });
    const reply = await get(origin);
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(reply.headers['x-one']).toBe('1');
    expect(reply.headers['content-length']).toBe('0');
  });

  it('writes no body for HEAD and cancels the unused body', async () => {
    const cancelled = deferred();
    const { port } = await serve(
      () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              controller.enqueue(new TextEncoder().encode('never sent'));
            },
            cancel: () => cancelled.resolve(),
          }),
          { headers: { 'x-head': 'yes' } },
        ),
    );
    const raw = await rawExchange(port, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await cancelled.promise;
    expect(raw.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(raw.toLowerCase()).toContain('x-head: yes');
    expect(raw.endsWith('\r\n\r\n')).toBe(true);
    expect(raw).not.toContain('never sent');
  });

  it('answers 204 without a body or framing headers', async () => {
    const { port } = await serve(() => new Response(null, { status: 204 }));
    const raw = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(raw.startsWith('HTTP/1.1 204 No Content\r\n')).toBe(true);
    expect(raw.toLowerCase()).not.toMatch(/content-length|transfer-encoding/);
    expect(raw.endsWith('\r\n\r\n')).toBe(true);
  });
});

describe('errors', () => {
  it('answers 500 when the handler throws, and keeps serving', async () => {
    let calls = 0;
    const { origin, errors } = await serve(() => {
      calls += 1;
      if (calls === 1) throw new Error('boom');
      return new Response('fine');
    });
    const agent = keepAliveAgent();
    const failed = await get(origin, { agent });
    // The failed response closes its connection (the app's state is suspect); the next one still works.
    expect(failed).toMatchObject({ status: 500, body: 'Internal Server Error\n' });
    expect(failed.headers.connection).toBe('close');
    expect(await get(origin, { agent })).toMatchObject({ status: 200, body: 'fine' });
    expect(errors).toEqual([new Error('boom')]);
  });

  it('answers 500 when the handler rejects', async () => {
    const { origin, errors } = await serve(async () => {
      throw new Error('async boom');
    });
    expect(await get(origin)).toMatchObject({ status: 500, body: 'Internal Server Error\n' });
    expect(errors).toEqual([new Error('async boom')]);
  });

  it('answers 500 when the handler returns something that is not a Response', async () => {
    const values: unknown[] = [{ status: 200 }, 'text', undefined, Response.error()];
    let next = 0;
    const { origin, errors } = await serve(() => values[next++] as Response);
    for (let i = 0; i < values.length; i++) {
      expect(await get(origin)).toMatchObject({ status: 500 });
    }
    expect(errors).toHaveLength(values.length);
    for (const error of errors) expect(error).toBeInstanceOf(TypeError);
  });

  it('answers 500 when the body fails before its first chunk, and drops Response headers', async () => {
    const { origin, errors } = await serve(
      () =>
        new Response(
          new ReadableStream({
            pull() {
              throw new Error('no data');
            },
          }),
          { headers: { 'x-from-response': '1' } },
        ),
    );
    const reply = await get(origin);
    expect(reply.status).toBe(500);
    expect(reply.headers['x-from-response']).toBeUndefined();
    expect(errors).toEqual([new Error('no data')]);
  });

  it('cuts the connection when the body fails midway', async () => {
    let pulls = 0;
    const { origin, errors } = await serve(
      () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              pulls += 1;
              if (pulls > 3) throw new Error('midway');
              controller.enqueue(new Uint8Array(CHUNK));
            },
          }),
        ),
    );
    const response = await fetch(origin);
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
    expect(errors).toEqual([new Error('midway')]);
  });

  it('survives an onError that throws', async () => {
    const { origin } = await serve(
      () => {
        throw new Error('first');
      },
      {
        onError: () => {
          throw new Error('reporter broke');
        },
      },
    );
    const original = console.error;
    console.error = () => {};
    try {
      expect(await get(origin)).toMatchObject({ status: 500 });
    } finally {
      console.error = original;
    }
  });
});

describe('client disconnect', () => {
  it('aborts request.signal and fails the body read when the client goes away mid-request', async () => {
    const started = deferred();
    const outcome = deferred<{ reason: unknown; bodyError: unknown }>();
    const { port, errors } = await serve(async (request) => {
      const aborted = new Promise((resolve) => request.signal.addEventListener('abort', resolve, { once: true }));
      const bodyError = request.text().then(
        () => undefined,
        (error: unknown) => error,
      );
      started.resolve();
      await aborted;
      outcome.resolve({ reason: request.signal.reason, bodyError: await bodyError });
      return new Response('too late');
    });
    const socket = await rawSocket(port);
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial');
    await started.promise;
    socket.destroy();
    const { reason, bodyError } = await outcome.promise;
    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe('AbortError');
    expect(bodyError).toBeInstanceOf(Error);
    expect(errors).toEqual([]);
  });

  it('hands out an already-aborted signal when the client left before it was read', async () => {
    const release = deferred();
    const result = deferred<boolean>();
    const { port, server } = await serve(async (request) => {
      await release.promise;
      result.resolve(request.signal.aborted);
      return new Response('gone');
    });
    const serverSocketClosed = new Promise((resolve) =>
      server.once('connection', (s: Socket) => s.once('close', resolve)),
    );
    const socket = await rawSocket(port);
    const requested = new Promise((resolve) => server.once('request', resolve));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await requested;
    socket.destroy();
    await serverSocketClosed;
    release.resolve();
    expect(await result.promise).toBe(true);
  });

  it('does not abort the signal once the response has finished', async () => {
    const signal = deferred<AbortSignal>();
    const { origin, server } = await serve((request) => {
      signal.resolve(request.signal);
      return new Response('done');
    });
    const closed = new Promise((resolve) => server.once('connection', (s: Socket) => s.once('close', resolve)));
    await get(origin, { headers: { connection: 'close' } });
    await closed;
    expect((await signal.promise).aborted).toBe(false);
  });

  it('cancels the response stream when the client goes away mid-download', async () => {
    const cancelled = deferred<unknown>();
    const { origin, errors } = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              controller.enqueue(new Uint8Array(CHUNK));
            },
            cancel: (reason) => cancelled.resolve(reason),
          }),
        ),
    );
    const req = httpRequest(origin, (res) => {
      res.once('data', () => req.destroy());
    });
    req.on('error', () => {});
    req.end();
    const reason = await cancelled.promise;
    expect((reason as DOMException).name).toBe('AbortError');
    expect(errors).toEqual([]);
  });
});

// Last on purpose: buffering 50 MB leaves that much freed memory with the allocator, which would
// hide growth from the RSS checks above if they ran after it.
describe('buffered body', () => {
  it('reads a 50 MB upload with request.arrayBuffer()', async () => {
    const { origin } = await serve(async (request) => {
      const buffer = await request.arrayBuffer();
      return Response.json({ bytes: buffer.byteLength });
    });
    expect(JSON.parse(await upload(origin, BIG))).toEqual({ bytes: BIG });
  }, 20_000);
});

describe('Response-like results (other Response classes)', () => {
  it.each([
    [
      'undici',
      (body: string) =>
        new UndiciResponse(body, {
          status: 201,
          statusText: 'Made',
          headers: [
            ['set-cookie', 'a=1; Path=/'],
            ['set-cookie', 'b=2; HttpOnly'],
            ['x-kind', 'undici'],
          ],
        }),
    ],
    [
      '@whatwg-node/fetch',
      (body: string) =>
        new WhatwgResponse(body, {
          status: 201,
          statusText: 'Made',
          headers: [
            ['set-cookie', 'a=1; Path=/'],
            ['set-cookie', 'b=2; HttpOnly'],
            ['x-kind', 'whatwg'],
          ],
        }),
    ],
    [
      'node-fetch',
      (body: string) =>
        new NodeFetchResponse(body, {
          status: 201,
          statusText: 'Made',
          headers: [
            ['set-cookie', 'a=1; Path=/'],
            ['set-cookie', 'b=2; HttpOnly'],
            ['x-kind', 'node-fetch'],
          ],
        }),
    ],
  ])('serves a %s Response: status, status text, headers, separate cookies, body', async (_name, make) => {
    const { origin, errors } = await serve(async () => make('héllo') as unknown as Response);
    const reply = await get(origin);
    expect(errors).toEqual([]);
    expect(reply.status).toBe(201);
    expect(reply.body).toBe('héllo');
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(reply.headers['x-kind']).toBeDefined();
  });

  it('streams each body kind: web stream, Node Readable, async iterable, string, ArrayBuffer, view, null', async () => {
    const headers = {
      forEach: (cb: (v: string, n: string) => void) => cb('text/plain', 'content-type'),
      get: () => null,
    };
    const like = (body: unknown) => ({ status: 200, headers, body, text: async () => '' });
    async function* pieces() {
      yield 'one ';
      yield new TextEncoder().encode('two ');
      yield new Uint16Array([0x6874, 0x6572]).buffer; // 'three' bytes would need more; 'thre' on little-endian
    }
    const bodies: Array<[unknown, string]> = [
      [new UndiciResponse('web stream').body, 'web stream'],
      [Readable.from([Buffer.from('node '), 'readable']), 'node readable'],
      [pieces(), 'one two thre'],
      ['a string', 'a string'],
      [new TextEncoder().encode('an array buffer').buffer, 'an array buffer'],
      [Buffer.from('a view'), 'a view'],
      [null, ''],
    ];
    let next = 0;
    const { origin, errors } = await serve(() => like(bodies[next++]?.[0]) as unknown as Response);
    for (const [, text] of bodies) expect((await get(origin)).body).toBe(text);
    expect(errors).toEqual([]);
  });

  it('keeps set-cookie headers separate with getSetCookie(), and cancels the body of a HEAD request', async () => {
    const cancelled = deferred();
    const { origin } = await serve(() => {
      const body = new ReadableStream({
        pull: (controller) => controller.enqueue(new TextEncoder().encode('never sent')),
        cancel: () => cancelled.resolve(),
      });
      return new UndiciResponse(body, {
        headers: [
          ['set-cookie', 'a=1; Path=/'],
          ['set-cookie', 'b=2; HttpOnly'],
        ],
      }) as unknown as Response;
    });
    const reply = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(origin, { method: 'HEAD' }, resolve).on('error', reject).end();
    });
    reply.resume();
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    await cancelled.promise;
  });

  it('destroys a Node Readable body when the client goes away mid-download', async () => {
    const closed = deferred();
    const { port } = await serve(() => {
      let n = 0;
      const body = new Readable({
        read() {
          this.push(Buffer.alloc(CHUNK, n++ % 256));
        },
      });
      body.on('close', () => closed.resolve());
      return { status: 200, headers: new Headers(), body, text: async () => '' } as unknown as Response;
    });
    const socket = await rawSocket(port);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    socket.destroy();
    await closed.promise;
  });

  it('refuses with a message saying what was expected: plain objects, status 0, bodies of other kinds', async () => {
    const headers = new Headers();
    const values: unknown[] = [
      { status: 200, body: 'x' },
      { status: 200, headers: {}, body: 'x', text: async () => 'x' },
      { status: 0, type: 'error', headers, body: null, text: async () => '' },
      { status: 200, headers, body: 42, text: async () => '' },
      { status: 200, headers, body: { nope: true }, text: async () => '' },
    ];
    let next = 0;
    const { origin, errors } = await serve(() => values[next++] as Response);
    for (let i = 0; i < values.length; i++) expect(await get(origin)).toMatchObject({ status: 500 });
    const messages = errors.map((error) => (error as Error).message);
    expect(messages[0]).toMatch(
      /must return a Response, or an object like one \(a numeric status, headers with forEach\(\) and get\(\), a body, and text\(\)\), got Object/,
    );
    expect(messages[1]).toMatch(/must return a Response, or an object like one/);
    expect(messages[2]).toMatch(/status 0 \(Response.error\(\)\), not a status between 200 and 599/);
    expect(messages[3]).toMatch(
      /body is number: expected a ReadableStream, a Node Readable, an async iterable, a string, bytes or null/,
    );
    expect(messages[4]).toMatch(/body is Object/);
  });
});
