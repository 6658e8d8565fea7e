import { describe, expect, it } from 'vitest';
import { installLightResponse, simpleParts } from './light-response.js';

const Native = globalThis.Response;
installLightResponse();

describe('LightResponse', () => {
  it('stands in for Response: instanceof, status, headers, body methods', async () => {
    const response = new Response('hello', { status: 201, statusText: 'Made', headers: { 'x-a': '1' } });
    expect(response).toBeInstanceOf(Response);
    expect(response).toBeInstanceOf(Native);
    expect(simpleParts(response)).toEqual({ status: 201, statusText: 'Made', headers: { 'x-a': '1' }, body: 'hello' });
    expect(response.status).toBe(201);
    expect(response.ok).toBe(true);
    expect(response.statusText).toBe('Made');
    expect(response.headers.get('x-a')).toBe('1');
    expect(response.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
    // Once the real Response exists, the bridge must use it (headers may have been changed).
    expect(simpleParts(response)).toBeUndefined();
    expect(await response.text()).toBe('hello');
    expect(response.bodyUsed).toBe(true);
  });

  it('keeps mutations made through headers', async () => {
    const response = new Response('x');
    response.headers.set('x-late', 'yes');
    expect(response.headers.get('x-late')).toBe('yes');
    expect(simpleParts(response)).toBeUndefined();
  });

  it('builds the real Response at once for streams, bad statuses and null-body statuses', () => {
    const stream = new Response(new ReadableStream());
    expect(simpleParts(stream)).toBeUndefined();
    expect(stream).toBeInstanceOf(Response);
    expect(() => new Response('x', { status: 99 })).toThrow(RangeError);
    expect(() => new Response('x', { status: 204 })).toThrow(TypeError);
    expect(simpleParts(new Response(null, { status: 204 }))).toMatchObject({ status: 204, body: null });
  });

  it('keeps the static helpers', async () => {
    const json = Response.json({ a: 1 }, { status: 202 });
    expect(json.status).toBe(202);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(await json.json()).toEqual({ a: 1 });
    expect(Response.error().type).toBe('error');
    expect(Response.redirect('http://x/', 302).headers.get('location')).toBe('http://x/');
    expect(() => (Response as unknown as () => unknown)()).toThrow(TypeError);
  });

  it('records ArrayBuffer and view bodies as the bytes they hold, and leaves other buffers to the real one', async () => {
    const buffer = new Uint8Array([1, 2, 3, 4]).buffer;
    expect(simpleParts(new Response(buffer))?.body).toEqual(new Uint8Array([1, 2, 3, 4]));
    const view = simpleParts(new Response(new DataView(buffer, 1, 2)))?.body as Uint8Array;
    expect([...view]).toEqual([2, 3]);
    expect(view.buffer).toBe(buffer);
    const built = new Response(new Int8Array(buffer, 2));
    expect(new Uint8Array(await built.arrayBuffer())).toEqual(new Uint8Array([3, 4]));
    expect(simpleParts(new Response(new ArrayBuffer(0)))).toBeUndefined();
    const shared = new SharedArrayBuffer(4) as unknown as ArrayBuffer;
    expect(simpleParts(new Response(shared))).toBeUndefined();
  });

  it('clones and reads bytes', async () => {
    const response = new Response(new Uint8Array([1, 2, 3]));
    const copy = response.clone();
    expect(new Uint8Array(await copy.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
  });
});
