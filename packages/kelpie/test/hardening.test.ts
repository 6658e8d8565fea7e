import { readFileSync } from 'node:fs';
import { rawExchange, startKelpie, stopAll } from '@kelpie/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

// Malformed and hostile requests over raw sockets: each gets its status and a log line, never
// reaches the app, and the same worker answers a good request right after.

interface Case {
  name: string;
  request: string;
  status: number;
}
const corpus = JSON.parse(readFileSync(new URL('./corpus/malformed.json', import.meta.url), 'utf8')) as Case[];

let kp: Awaited<ReturnType<typeof startKelpie>>;
beforeAll(async () => {
  kp = await startKelpie(['-w', '1', fixture('pid-app.js')]);
});
afterAll(stopAll);

const statusOf = (reply: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(reply)?.[1] ?? 0);

describe('request smuggling and malformed requests (test/corpus/malformed.json)', () => {
  it.each(corpus.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = kp.log().length;
    const pid = (await get(kp.url)).body;
    const reply = await rawExchange(kp.url, c.request);
    expect(statusOf(reply), reply).toBe(c.status);
    expect(reply).toMatch(/\r\nConnection: close\r\n/i);
    await kp.waitForLog(/\[WARNING\] Invalid request from ip=127\.0\.0\.1: /, { from: before });
    expect(kp.log().slice(before)).not.toMatch(/Error handling request/);
    expect((await get(kp.url)).body).toBe(pid);
  });
});

describe('request limits at their boundaries', () => {
  let limited: Awaited<ReturnType<typeof startKelpie>>;
  beforeAll(async () => {
    limited = await startKelpie([
      '-w',
      '1',
      '--limit-request-line',
      '100',
      '--limit-request-fields',
      '10',
      '--limit-request-field_size',
      '60',
      '--limit-request-body',
      '1000',
      fixture('pid-app.js'),
    ]);
  });

  const send = async (lines: string[], body = '') => {
    // Connection: close, so that an accepted request's reply ends with the connection.
    const head = [...lines, 'Connection: close'];
    const reply = await rawExchange(limited.url, `${head.join('\r\n')}\r\n\r\n${body}`);
    return { status: statusOf(reply), reply };
  };
  // "GET " + target + " HTTP/1.1" is 13 bytes plus the target.
  const target = (length: number) => `/${'a'.repeat(length - 1)}`;

  it('--limit-request-line: exactly the limit passes, one byte more gets 414', async () => {
    expect((await send([`GET ${target(87)} HTTP/1.1`, 'Host: x'])).status).toBe(200);
    const over = await send([`GET ${target(88)} HTTP/1.1`, 'Host: x']);
    expect(over.status).toBe(414);
    expect(over.reply).toMatch(/request line of 101 bytes is over --limit-request-line 100/);
  });

  it('--limit-request-fields: 10 fields pass, 11 get 431', async () => {
    // send() adds Connection: close, the last of the fields.
    const fields = (n: number) => ['Host: x', ...Array.from({ length: n - 2 }, (_, i) => `X-${i}: v`)];
    expect((await send(['GET / HTTP/1.1', ...fields(10)])).status).toBe(200);
    const over = await send(['GET / HTTP/1.1', ...fields(11)]);
    expect(over.status).toBe(431);
    expect(over.reply).toMatch(/more than 10 header fields/);
  });

  it('--limit-request-field_size: a 60-byte field passes, 61 bytes get 431', async () => {
    // "X-Long: " is 8 bytes.
    expect((await send(['GET / HTTP/1.1', 'Host: x', `X-Long: ${'v'.repeat(52)}`])).status).toBe(200);
    const over = await send(['GET / HTTP/1.1', 'Host: x', `X-Long: ${'v'.repeat(53)}`]);
    expect(over.status).toBe(431);
    expect(over.reply).toMatch(/header field X-Long of 61 bytes/);
  });

  it('--limit-request-body: 1000 bytes pass, 1001 get 413, by Content-Length and chunked', async () => {
    const post = (body: string) => ['POST /echo HTTP/1.1', 'Host: x', `Content-Length: ${body.length}`];
    expect((await send(post('x'.repeat(1000)), 'x'.repeat(1000))).status).toBe(200);
    expect((await send(post('x'.repeat(1001)), 'x'.repeat(1001))).status).toBe(413);
    const chunked = (size: number) => `${size.toString(16)}\r\n${'y'.repeat(size)}\r\n0\r\n\r\n`;
    const te = ['POST /echo HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'];
    expect((await send(te, chunked(1000))).status).toBe(200);
    const over = await send(te, chunked(1001));
    expect(over.status).toBe(413);
    await limited.waitForLog(/chunked body passed --limit-request-body 1000 bytes/);
    expect((await get(limited.url)).status).toBe(200);
  });

  it('--header-timeout: a client that never finishes its headers gets 408 and is dropped', async () => {
    const slow = await startKelpie(['-w', '1', '--header-timeout', '1', fixture('pid-app.js')]);
    const started = Date.now();
    const { connect } = await import('node:net');
    const reply = await new Promise<string>((resolve, reject) => {
      const { port } = new URL(slow.url);
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: '));
      let data = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        data += chunk;
      });
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(statusOf(reply)).toBe(408);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await get(slow.url)).status).toBe(200);
  });
});
