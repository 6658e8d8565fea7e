import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

afterEach(stopAll);

const app = (name: string) => fixture(`fetch-interop/${name}`);

describe('Response-like results', () => {
  it('serves GraphQL Yoga 5 (PonyfillResponse): a POSTed query', async () => {
    const kp = await startKelpie(['-w', '1', app('yoga.mjs')]);
    const response = await fetch(`${kp.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: 'query ($name: String) { hello(name: $name) }', variables: { name: 'kelpie' } }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(await response.json()).toEqual({ data: { hello: expect.stringMatching(/^Hello kelpie from \d+$/) } });
    expect(kp.log()).not.toMatch(/must return a Response/);
  });

  it('serves a GraphQL Yoga subscription over server-sent events, event by event', async () => {
    const kp = await startKelpie(['-w', '1', app('yoga.mjs')]);
    const abort = new AbortController();
    const response = await fetch(`${kp.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { countdown(from: 1000) }' }),
      signal: abort.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const events = () => [...text.matchAll(/event: next\ndata: (.*)\n\n/g)].map((m) => JSON.parse(m[1] as string));
    // The countdown runs for 50 s: two events can only have come as a stream, not a buffered body.
    for (let reads = 0; events().length < 2 && reads < 100; reads++) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(events().slice(0, 2)).toEqual([{ data: { countdown: 1000 } }, { data: { countdown: 999 } }]);
    abort.abort();
    await reader.cancel().catch(() => {});
    // The worker goes on serving after the client left mid-stream.
    expect((await get(`${kp.url}/graphql?query=%7Bhello%7D`, { headers: { accept: 'application/json' } })).status).toBe(
      200,
    );
  });

  it("serves undici's own Response, node-fetch's with a Node Readable body, and global Responses over a Node Readable or an async iterable", async () => {
    const kp = await startKelpie(['-w', '1', app('responses.mjs')]);
    const undici = await get(`${kp.url}/undici`);
    expect(undici).toMatchObject({ status: 201, body: 'from undici' });
    expect(undici.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(undici.headers['x-kind']).toBe('undici');
    expect((await get(`${kp.url}/undici-stream`)).body).toBe('undici stream');
    const nodeFetch = await get(`${kp.url}/node-fetch-readable`);
    expect(nodeFetch.body).toBe('node-fetch readable');
    expect(nodeFetch.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect((await get(`${kp.url}/readable`)).body).toBe('node readable');
    expect((await get(`${kp.url}/iterable`)).body).toBe('async iterable body');
    const cookies = await get(`${kp.url}/cookies`);
    expect(cookies.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(kp.log()).not.toMatch(/Error handling request/);
  });

  it('refuses an object that is not like a Response, saying what was expected', async () => {
    const kp = await startKelpie(['-w', '1', app('responses.mjs')]);
    expect((await get(`${kp.url}/plain-object`)).status).toBe(500);
    await kp.waitForLog(
      /must return a Response, or an object like one \(a numeric status, headers with forEach\(\).*got Object/,
    );
  });
});

describe('fetch handlers with a context', () => {
  it("serves React Router's createRequestHandler(build) as a fetch handler, the request info as its loadContext", async () => {
    const kp = await startKelpie(['-w', '1', app('react-router-handler.mjs')]);
    const reply = await get(`${kp.url}/info`);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ url: `${kp.url}/info`, clientAddress: '127.0.0.1', scheme: 'http' });
  });

  it("serves a bare Hono app.fetch with Hono's own behaviour, the request info as its env", async () => {
    const kp = await startKelpie(['-w', '1', app('hono-bare.mjs')]);
    expect((await get(`${kp.url}/`)).body).toMatch(/^hono \d+$/);
    expect(JSON.parse((await get(`${kp.url}/env`)).body)).toEqual({
      clientAddress: '127.0.0.1',
      scheme: 'http',
      incoming: true,
    });
  });

  it('names --interface fetch, once per worker, when a fetch handler was taken for a Node listener; serves it with the setting', async () => {
    const kp = await startKelpie(['-w', '1', app('guessed-fetch.mjs')]);
    for (let i = 0; i < 3; i++) expect((await get(`${kp.url}/x`)).status).toBe(500);
    await kp.waitForLog(/Invalid URL .*declares 2 parameters; if it is a fetch handler .*--interface fetch/);
    expect(kp.countLog(/--interface fetch/)).toBe(1);
    await kp.stop();
    const fixed = await startKelpie(['-w', '1', '--interface', 'fetch', app('guessed-fetch.mjs')]);
    expect((await get(`${fixed.url}/x`)).body).toBe('path /x object');
  });

  it('names --interface node when a Node listener was taken for a fetch handler; serves it with the setting', async () => {
    const kp = await startKelpie(['-w', '1', app('guessed-node.mjs')]);
    expect((await get(`${kp.url}/y`)).status).toBe(500);
    await kp.waitForLog(
      /res\.end is not a function .*if it is a Node listener \(req, res\), start kelpie with --interface node/,
    );
    await kp.stop();
    const fixed = await startKelpie(['-w', '1', '--interface', 'node', app('guessed-node.mjs')]);
    expect((await get(`${fixed.url}/y`)).body).toBe('node /y');
  });

  it('refuses an --interface value it does not know, naming the setting and the values allowed', async () => {
    const kp = await startKelpie(['--interface', 'asgi3', app('hono-bare.mjs')], { waitFor: 'nothing' });
    const { code } = await kp.exited();
    expect(code).toBe(2);
    expect(kp.log()).toMatch(/--interface.*asgi3.*auto, node, fetch/);
  });
});
