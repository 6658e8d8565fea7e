import { request } from 'node:http';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

afterEach(stopAll);

const MB = 1024 * 1024;

describe('app shapes', () => {
  it('streams a 50 MB upload into a fetch app without buffering it', async () => {
    // --expose-gc reaches the worker: the app collects while it reads, so RSS shows what is held.
    const kp = await startKelpie(['-w', '1', fixture('stream-app.js')], { nodeArgs: ['--expose-gc'] });
    const before = JSON.parse((await get(`${kp.url}/rss`)).body).rss as number;
    const chunk = Buffer.alloc(64 * 1024, 98);
    const result = await new Promise<{ bytes: number; rss: number }>((resolve, reject) => {
      const req = request(`${kp.url}/upload`, { method: 'POST', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve(JSON.parse(body)));
      });
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < 50 * MB) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(result.bytes).toBe(50 * MB);
    expect(result.rss - before).toBeLessThan(40 * MB);
  });

  it('streams a 50 MB download from a fetch app', async () => {
    const kp = await startKelpie(['-w', '1', fixture('stream-app.js')]);
    const response = await fetch(`${kp.url}/download?mb=50`);
    expect(response.status).toBe(200);
    let bytes = 0;
    for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) bytes += part.byteLength;
    expect(bytes).toBe(50 * MB);
    const rss = JSON.parse((await get(`${kp.url}/rss`)).body).rss as number;
    expect(rss).toBeLessThan(200 * MB);
  });

  it('gives a fetch app the method, path and query', async () => {
    const kp = await startKelpie([fixture('stream-app.js')]);
    expect((await get(`${kp.url}/some/path?x=1`, { method: 'DELETE' })).body).toBe('DELETE /some/path?x=1');
  });

  it('serves an unmodified Express 5 app: routes, JSON in and out, async errors', async () => {
    const kp = await startKelpie(['-w', '2', fixture('express-app.js')]);
    expect((await get(`${kp.url}/`)).body).toBe('express root');
    const user = await get(`${kp.url}/users/42`);
    expect(user.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(user.body)).toEqual({ id: '42', framework: 'express' });
    const echo = await get(`${kp.url}/echo`, {
      method: 'POST',
      body: JSON.stringify({ a: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(echo.status).toBe(201);
    expect(JSON.parse(echo.body)).toEqual({ got: { a: 1 } });
    expect((await get(`${kp.url}/fail`)).status).toBe(500);
    expect((await get(`${kp.url}/missing`)).status).toBe(404);
  });

  it('serves an unmodified Koa 3 app through app.callback()', async () => {
    const kp = await startKelpie(['-w', '2', fixture('koa-app.js')]);
    expect((await get(`${kp.url}/`)).body).toBe('koa root');
    expect(JSON.parse((await get(`${kp.url}/json`, { method: 'PUT' })).body)).toEqual({
      framework: 'koa',
      method: 'PUT',
    });
    expect(JSON.parse((await get(`${kp.url}/items/7`)).body)).toEqual({ item: '7' });
  });

  it('serves the examples: hello, fetch and Express', async () => {
    const examples = new URL('../../../apps/examples/', import.meta.url).pathname;
    const hello = await startKelpie(['-w', '2', `${examples}hello.js`]);
    expect((await get(hello.url)).body).toBe('Hello, World!\n');
    const fetchApp = await startKelpie([`${examples}fetch.js`]);
    expect(JSON.parse((await get(fetchApp.url)).body)).toMatchObject({ hello: 'world' });
    expect((await get(`${fetchApp.url}/echo`, { method: 'POST', body: 'ping' })).body).toBe('ping');
    const expressApp = await startKelpie([`${examples}express.js:app`]);
    expect(JSON.parse((await get(`${expressApp.url}/users/5`)).body)).toEqual({ id: '5' });
  });
});
