import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetchListener, type FetchHandler } from './fetch-bridge.js';
import type { RequestInfo } from './request-info.js';

// The fetch handler's request.headers (request-headers.ts): get() and has() answered from Node's
// parsed fields must give what a real Headers built from the same request gives, and every other
// member must behave as a real Headers does.

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** Serves `handler`, sends `head` (a raw HTTP/1.1 request head) and returns the response text. */
async function exchange(handler: FetchHandler, head: string, body = ''): Promise<string> {
  const server = createServer(createFetchListener(handler, { onError: (error) => console.error(error) }));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.end(`${head}Connection: close\r\n\r\n${body}`);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

/** What a real Headers says for the request: the reference the lazy one is held to. */
function referenceOf(info: unknown): Headers {
  const raw = (info as RequestInfo).incoming.rawHeaders;
  const headers = new Headers();
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  return headers;
}

const HEAD = [
  'GET /h HTTP/1.1',
  'Host: example.com',
  'X-Multi: a',
  'x-multi: b',
  'Cookie: a=1',
  'Cookie: b=2',
  'User-Agent: first',
  'User-Agent: second',
  'Content-Type: text/plain',
  'X-Empty:',
  'X-Spaced:   padded  ',
  'Set-Cookie: odd=1',
  '',
].join('\r\n');

const NAMES = [
  'host',
  'Host',
  'X-MULTI',
  'x-multi',
  'cookie',
  'user-agent',
  'content-type',
  'x-empty',
  'x-spaced',
  'set-cookie',
  'x-absent',
  'constructor',
  '__proto__',
  'content-length',
];

describe('request.headers', () => {
  it('answers get() and has() as a real Headers does, repeated fields and Node-specific joins included', async () => {
    const results: unknown[] = [];
    const response = await exchange((request, info) => {
      const reference = referenceOf(info);
      // Before any other member is used: the fast path.
      for (const name of NAMES) {
        results.push([name, request.headers.get(name), reference.get(name)]);
        results.push([name, request.headers.has(name), reference.has(name)]);
      }
      return new Response('ok');
    }, HEAD);
    expect(response.startsWith('HTTP/1.1 200')).toBe(true);
    expect(results).toHaveLength(NAMES.length * 2);
    for (const [name, lazy, real] of results as [string, unknown, unknown][])
      expect([name, lazy]).toEqual([name, real]);
    expect(results).toContainEqual(['user-agent', 'first, second', 'first, second']);
    expect(results).toContainEqual(['cookie', 'a=1; b=2', 'a=1; b=2']);
    expect(results).toContainEqual(['x-absent', null, null]);
  });

  it('is a Headers: invalid names throw, iteration, copies, changes and getSetCookie() behave as on a real one', async () => {
    const seen: Record<string, unknown> = {};
    await exchange((request, info) => {
      const headers = request.headers;
      const reference = referenceOf(info);
      seen.isHeaders = headers instanceof Headers;
      seen.tag = Object.prototype.toString.call(headers);
      seen.invalidName = (() => {
        try {
          headers.get('bad name');
          return 'no error';
        } catch (error) {
          return (error as Error).name;
        }
      })();
      seen.entries = [...headers];
      seen.reference = [...reference];
      seen.copy = [...new Headers(headers)];
      seen.cookies = headers.getSetCookie();
      headers.set('x-multi', 'replaced');
      headers.append('x-added', '1');
      headers.delete('cookie');
      seen.changed = [headers.get('x-multi'), headers.get('x-added'), headers.has('cookie')];
      return new Response('ok');
    }, HEAD);
    expect(seen.isHeaders).toBe(true);
    expect(seen.tag).toBe('[object Headers]');
    expect(seen.invalidName).toBe('TypeError');
    expect(seen.entries).toEqual(seen.reference);
    expect(seen.copy).toEqual(seen.reference);
    expect(seen.cookies).toEqual(['odd=1']);
    expect(seen.changed).toEqual(['replaced', '1', false]);
  });

  it('passes the headers on to the real Request, clone() and new Request(request), and the body still reads', async () => {
    const seen: Record<string, unknown> = {};
    const head = 'POST /p HTTP/1.1\r\nHost: x\r\nX-Token: t1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n';
    await exchange(
      async (request) => {
        seen.token = request.headers.get('x-token');
        const copy = new Request(request.url, { headers: request.headers });
        seen.copied = copy.headers.get('x-token');
        const clone = request.clone();
        seen.cloned = [clone.headers.get('x-token'), clone.headers.get('content-type')];
        seen.body = await request.text();
        seen.after = request.headers.get('x-token');
        return new Response('ok');
      },
      head,
      'hello',
    );
    expect(seen).toEqual({ token: 't1', copied: 't1', cloned: ['t1', 'text/plain'], body: 'hello', after: 't1' });
  });
});
