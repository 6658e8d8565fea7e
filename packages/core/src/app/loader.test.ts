import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadApp, parseAppModule } from './loader.js';

const dir = mkdtempSync(join(tmpdir(), 'kelpie-apps-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, source: string) => {
  writeFileSync(join(dir, name), source);
  return `./${name}`;
};

describe('parseAppModule', () => {
  it('reads targets, export paths and factory calls', () => {
    expect(parseAppModule('app.js')).toEqual({ target: 'app.js' });
    expect(parseAppModule('./src/app.js:server')).toEqual({ target: './src/app.js', exportPath: ['server'] });
    expect(parseAppModule('pkg:a.b')).toEqual({ target: 'pkg', exportPath: ['a', 'b'] });
    expect(parseAppModule('app.js:create()')).toEqual({ target: 'app.js', exportPath: ['create'], factoryArgs: [] });
    expect(parseAppModule('app.js:create("a:b", 2, {"x": true})')).toEqual({
      target: 'app.js',
      exportPath: ['create'],
      factoryArgs: ['a:b', 2, { x: true }],
    });
    expect(() => parseAppModule('app.js:create(nope)')).toThrow(/factory arguments must be JSON literals/);
  });
});

describe('loadApp', () => {
  it('recognizes each app shape', async () => {
    const listener = await loadApp(file('l.mjs', 'export default (req, res) => res.end("x");'), dir);
    expect(listener.kind).toBe('listener');
    const fetchFn = await loadApp(file('f.mjs', 'export default (request) => new Response("x");'), dir);
    expect(fetchFn.kind).toBe('fetch');
    const fetchObj = await loadApp(file('o.mjs', 'export default { fetch() { return new Response("x"); } };'), dir);
    expect(fetchObj.kind).toBe('fetch');
    const koaLike = await loadApp(
      file('k.mjs', 'export default { callback() { return (req, res) => res.end(); } };'),
      dir,
    );
    expect(koaLike.kind).toBe('callback');
  });

  it('falls back from default to app, and reads CommonJS', async () => {
    const named = await loadApp(file('n.mjs', 'export const app = (req, res) => res.end();'), dir);
    expect(named.kind).toBe('listener');
    const cjs = await loadApp(file('c.cjs', 'module.exports = { app: { fetch: () => new Response("") } };'), dir);
    expect(cjs.kind).toBe('fetch');
    const cjsFn = await loadApp(file('d.cjs', 'module.exports = function (req, res) { res.end(); };'), dir);
    expect(cjsFn.kind).toBe('listener');
  });

  it('calls factories, awaiting async ones', async () => {
    const target = file(
      'fac.mjs',
      'export async function make(n) { return { fetch: () => new Response(String(n)) }; }',
    );
    const app = await loadApp(`${target}:make(3)`, dir);
    expect(app.kind).toBe('fetch');
    const res = await app.fetch?.(new Request('http://x/'));
    expect(await res?.text()).toBe('3');
  });

  it('finds startup and shutdown hooks on the app or the module', async () => {
    const onApp = await loadApp(
      file('h1.mjs', 'export default { fetch() {}, startup() { return 1; }, shutdown() {} };'),
      dir,
    );
    expect(onApp.startup?.()).toBe(1);
    const onModule = await loadApp(
      file('h2.mjs', 'export default (req, res) => {}; export function startup() { return 2; }'),
      dir,
    );
    expect(onModule.startup?.()).toBe(2);
  });

  it('says what went wrong, with the app-load error codes', async () => {
    await expect(loadApp('./missing.js', dir)).rejects.toMatchObject({ code: 'KELPIE_ERR_APP_NOT_FOUND' });
    await expect(loadApp(file('s.mjs', 'export default {'), dir)).rejects.toMatchObject({
      code: 'KELPIE_ERR_APP_IMPORT',
      message: expect.stringMatching(/Failed to import the app module .*s\.mjs/),
    });
    await expect(loadApp(file('t.mjs', 'throw new Error("no db")'), dir)).rejects.toMatchObject({
      code: 'KELPIE_ERR_APP_IMPORT',
      message: expect.stringMatching(/no db/),
    });
    await expect(loadApp(file('e.mjs', 'export const x = 1;'), dir)).rejects.toMatchObject({
      code: 'KELPIE_ERR_APP_EXPORT',
      message: expect.stringMatching(
        /found: x: number\) and started no server of its own\. Accepted: a Node request listener/,
      ),
    });
    await expect(loadApp(`${file('e2.mjs', 'export const x = 1;')}:y`, dir)).rejects.toMatchObject({
      code: 'KELPIE_ERR_APP_EXPORT',
      message: expect.stringMatching(/no export "y"/),
    });
    await expect(loadApp(`${file('e3.mjs', 'export const x = 1;')}:x()`, dir)).rejects.toMatchObject({
      code: 'KELPIE_ERR_APP_FACTORY',
    });
    await expect(
      loadApp(`${file('e4.mjs', 'export function make() { throw new Error("bad config"); }')}:make()`, dir),
    ).rejects.toMatchObject({ code: 'KELPIE_ERR_APP_FACTORY', message: expect.stringMatching(/bad config/) });
  });
});
