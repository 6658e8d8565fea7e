import type { IncomingMessage, ServerResponse } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFetchBridge, toApp } from './app.js';
import {
  decideInterface,
  hintingListener,
  hintingReporter,
  misfitError,
  parameterNames,
  takesOwnContext,
} from './interface.js';

// toApp() makes fetch apps with the fetch bridge, which the app loader loads first.
beforeAll(loadFetchBridge);

type Fn = (...args: never[]) => unknown;

describe('parameterNames', () => {
  it.each<[string, Fn, string[] | undefined]>([
    ['arrow', (req: unknown, res: unknown) => [req, res], ['req', 'res']],
    ['single arrow without parentheses', ((request: unknown) => request) as Fn, ['request']],
    [
      'async function',
      async function handler(request: unknown, loadContext: unknown) {
        return [request, loadContext];
      },
      ['request', 'loadContext'],
    ],
    [
      'defaults and rest',
      ((req: unknown, res: unknown = { a: [1, 2] }, ...rest: unknown[]) => [req, res, rest]) as Fn,
      ['req', 'res'],
    ],
    ['destructuring ends the list', (({ a }: { a: number }, b: unknown) => [a, b]) as Fn, []],
    [
      'method shorthand',
      {
        fetch(request: unknown, env: unknown) {
          return [request, env];
        },
      }.fetch as Fn,
      ['request', 'env'],
    ],
    ['a bound function (no source)', ((a: unknown, b: unknown) => [a, b]).bind(null) as Fn, undefined],
    ['a string default (not read)', ((a: unknown, b = 'x,y') => [a, b]) as Fn, undefined],
  ])('%s', (_name, fn, names) => {
    expect(parameterNames(fn)).toEqual(names);
  });
});

describe('decideInterface', () => {
  it.each<[string, Fn, 'node' | 'fetch', boolean]>([
    ['(req, res)', (req: unknown, res: unknown) => [req, res], 'node', true],
    ['(request, response)', (request: unknown, response: unknown) => [request, response], 'node', true],
    [
      '(req, res = null): a default no longer makes it a fetch handler',
      ((req: unknown, res: unknown = null) => [req, res]) as Fn,
      'node',
      true,
    ],
    [
      '(request, env, ctx): Hono-style',
      (request: unknown, env: unknown, ctx: unknown) => [request, env, ctx],
      'fetch',
      true,
    ],
    ['(request, loadContext)', (request: unknown, loadContext: unknown) => [request, loadContext], 'fetch', true],
    ['(req, context)', (req: unknown, context: unknown) => [req, context], 'fetch', true],
    ['(request, server): Bun-style', (request: unknown, server: unknown) => [request, server], 'fetch', true],
    ['(request)', (request: unknown) => request, 'fetch', false],
    ['(a, b): unknown names, two parameters', (a: unknown, b: unknown) => [a, b], 'node', false],
    ['(...args)', ((...args: unknown[]) => args) as Fn, 'fetch', false],
  ])('%s', (_name, fn, expected, certain) => {
    expect(decideInterface(fn)).toMatchObject({ interface: expected, certain });
  });

  it('takes an app with use() and handle() (Express, Connect) for a Node listener, and --interface over every sign', () => {
    const app = Object.assign((a: unknown, b: unknown, c: unknown) => [a, b, c], { use() {}, handle() {} });
    expect(decideInterface(app)).toMatchObject({ interface: 'node', certain: true });
    const adapter = Object.assign((request: unknown) => request, { fetch() {}, handle() {} });
    expect(decideInterface(adapter)).toMatchObject({ interface: 'fetch', certain: true });
    expect(decideInterface((req: unknown, res: unknown) => [req, res], 'fetch')).toMatchObject({ interface: 'fetch' });
    expect(decideInterface((request: unknown) => request, 'node')).toMatchObject({ interface: 'node' });
  });
});

describe('takesOwnContext', () => {
  it("is true for React Router's and Remix's (request, initialContext | loadContext) only", () => {
    expect(takesOwnContext(async (request: unknown, initialContext: unknown) => [request, initialContext])).toBe(true);
    expect(takesOwnContext((request: unknown, loadContext: unknown) => [request, loadContext])).toBe(true);
    expect(takesOwnContext((request: unknown, env: unknown) => [request, env])).toBe(false);
    expect(takesOwnContext((request: unknown, ctx: unknown) => [request, ctx])).toBe(false);
    expect(takesOwnContext((request: unknown) => request)).toBe(false);
  });

  it('calls such a handler with the request alone, and other fetch handlers with the request info', async () => {
    const seen: unknown[] = [];
    const own = toApp((request: Request, loadContext?: unknown) => {
      seen.push(loadContext);
      return new Response(request.method);
    });
    const info = toApp((request: Request, env?: unknown) => {
      seen.push(env);
      return new Response(request.method);
    });
    await own?.fetch?.(new Request('http://x/'));
    await info?.fetch?.(new Request('http://x/'), 'info');
    expect(seen).toEqual([undefined, 'info']);
  });
});

describe('hints when a guess was wrong', () => {
  it('names --interface fetch for an Invalid URL from a function taken for a Node listener, once', async () => {
    const handler = async (a: IncomingMessage, _b: ServerResponse) => new Response(new URL(a.url ?? '').pathname);
    const decision = decideInterface(handler as Fn);
    const listener = hintingListener(handler, decision);
    const call = () => listener({ url: '/x' } as IncomingMessage, {} as ServerResponse) as Promise<unknown>;
    await expect(call()).rejects.toMatchObject({
      code: 'KELPIE_ERR_APP_INTERFACE',
      message: expect.stringMatching(/Invalid URL .*declares 2 parameters; .*--interface fetch/),
    });
    await expect(call()).rejects.toMatchObject({ name: 'TypeError', message: expect.stringMatching(/Invalid URL/) });
  });

  it('fails a Response returned to a Node call instead of leaving the request hanging', async () => {
    const handler = (_a: IncomingMessage, _b: ServerResponse) => new Response('hi');
    const listener = hintingListener(handler, decideInterface(handler as Fn));
    const res = { headersSent: false, writableEnded: false } as ServerResponse;
    expect(() => listener({} as IncomingMessage, res)).toThrow(/--interface fetch/);
    expect(() => listener({} as IncomingMessage, res)).toThrow(/never ended the Node response/);
  });

  it('names --interface node for a listener taken for a fetch handler', () => {
    const decision = decideInterface(((...args: unknown[]) => args) as Fn);
    const reported: unknown[] = [];
    const report = hintingReporter((error) => reported.push(error), decision);
    report(new TypeError('res.end is not a function'), {});
    report(new TypeError('res.end is not a function'), {});
    report(new TypeError('something else'), {});
    expect(reported[0]).toMatchObject({ message: expect.stringMatching(/--interface node/) });
    expect(reported.slice(1).map((e) => (e as Error).message)).toEqual(['res.end is not a function', 'something else']);
    expect(
      misfitError(new TypeError('The fetch handler must return a Response, or x, got undefined'), decision),
    ).toBeDefined();
    expect(misfitError(new Error('database down'), decision)).toBeUndefined();
  });

  it('leaves certain decisions unwrapped (no cost on the common path)', () => {
    const listener = (_req: IncomingMessage, res: ServerResponse) => res.end('ok');
    expect(toApp(listener)?.listener).toBe(listener);
  });
});
