import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pluginNotFound } from './find.js';
import { resolveWorker, workerCandidates } from './resolve-worker.js';

const dir = mkdtempSync(join(tmpdir(), 'kelpie-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, source: string) => {
  writeFileSync(join(dir, name), source);
  return `./${name}`;
};
const workerSource = (core: string, name = 'Mine') => `
export class ${name} {
  static meta = { name: 'mine', version: '1.0.0', core: '${core}' };
  async serve() {}
  async drain() {}
}`;

describe('workerCandidates', () => {
  it('expands short names through the prefix table and keeps full names', () => {
    expect(workerCandidates('sync')).toEqual(['@kelpie/worker-sync', 'kelpie-worker-sync']);
    expect(workerCandidates('@acme/kelpie-worker-x')).toEqual(['@acme/kelpie-worker-x']);
    expect(workerCandidates('kelpie-worker-y')).toEqual(['kelpie-worker-y']);
    expect(workerCandidates('./w.js')).toEqual(['./w.js']);
    expect(workerCandidates('workers/mine.mjs')).toEqual(['workers/mine.mjs']);
    expect(workerCandidates('@acme/foo')).toEqual(['@acme/kelpie-worker-foo', '@acme/foo']);
    expect(workerCandidates('@acme')).toEqual(['@acme/kelpie-worker']);
  });
});

describe('resolveWorker', () => {
  it('loads a worker class from a path and checks its metadata', async () => {
    const resolved = await resolveWorker(file('ok.mjs', workerSource('>=0.1.0')), [dir]);
    expect(resolved.meta.name).toBe('mine');
    expect(resolved.exportName).toBe('Mine');
  });

  it('picks an export with #Export, and asks for one when several classes are exported', async () => {
    const path = file('two.mjs', workerSource('*', 'A') + workerSource('*', 'B'));
    await expect(resolveWorker(path, [dir])).rejects.toMatchObject({
      code: 'KELPIE_ERR_WORKER_INVALID',
      message: expect.stringMatching(/several worker classes \(A, B\); pick one with #Export/),
    });
    expect((await resolveWorker(`${path}#B`, [dir])).exportName).toBe('B');
  });

  it('refuses a class whose supported core range excludes this core', async () => {
    await expect(resolveWorker(file('old.mjs', workerSource('^9.0.0')), [dir])).rejects.toMatchObject({
      code: 'KELPIE_ERR_WORKER_INCOMPATIBLE',
      message: expect.stringMatching(/supports @kelpie\/core \^9\.0\.0, but this is @kelpie\/core \d/),
    });
  });

  it('ignores a re-exported base class without meta when picking the export', async () => {
    const source = [
      'export class Base { async serve() {} async drain() {} }',
      "export class Mine extends Base { static meta = { name: 'mine', version: '1.0.0', core: '^0.1.0' }; }",
    ].join('\n');
    const resolved = await resolveWorker(file('reexport.mjs', source), [dir]);
    expect(resolved.exportName).toBe('Mine');
  });

  it('refuses modules without a worker class or without meta', async () => {
    await expect(resolveWorker(file('none.mjs', 'export const x = 1;'), [dir])).rejects.toMatchObject({
      code: 'KELPIE_ERR_WORKER_INVALID',
    });
    await expect(
      resolveWorker(file('nometa.mjs', 'export class W { async serve() {} async drain() {} }'), [dir]),
    ).rejects.toMatchObject({ code: 'KELPIE_ERR_WORKER_INVALID', message: expect.stringMatching(/lacks static meta/) });
  });

  it('lists every name tried, the folders searched and the install command when nothing is found', async () => {
    await expect(resolveWorker('nope', [dir, '/nonexistent'])).rejects.toMatchObject({
      code: 'KELPIE_ERR_WORKER_NOT_FOUND',
      message: `Worker class "nope" not found.\nTried: @kelpie/worker-nope, kelpie-worker-nope\nSearched from: ${dir}, /nonexistent\nInstall it with: npm install kelpie-worker-nope`,
    });
  });

  it("suggests kelpie's own package for kelpie's own class names, the scoped form for scoped names", () => {
    const hint = (name: string) => pluginNotFound(name, 'worker', [dir], 'KELPIE_ERR_WORKER_NOT_FOUND').message;
    expect(hint('threads')).toMatch(/Install it with: npm install @kelpie\/worker-threads$/);
    expect(hint('@acme/fast')).toMatch(
      /Tried: @acme\/kelpie-worker-fast, @acme\/fast\n[\s\S]*npm install @acme\/kelpie-worker-fast$/,
    );
    expect(hint('./w.js')).not.toMatch(/Install it with/);
  });
});
