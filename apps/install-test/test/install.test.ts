import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { get, startKelpie, stopAll } from '@kelpie/worker-testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = [
  'packages/core',
  'packages/worker-async',
  'packages/kelpie',
  'packages/worker-testkit',
  'apps/worker-template',
];

// npm and pnpm both read npm_config_* variables; the ones a pnpm script run sets must not leak
// into the fresh project's npm. Nor may NODE_PATH, which pnpm's shims point at the workspace's
// hoisted packages (the template among them).
const cleanEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key))),
  NODE_PATH: '',
};

/** pnpm, as this test was started with it when it was; else through npx. */
function pnpm(args: string[], cwd: string) {
  const execPath = process.env.npm_execpath;
  return execPath && /pnpm/.test(execPath)
    ? run(process.execPath, [execPath, ...args], { cwd })
    : run('npx', ['-y', 'pnpm@10', ...args], { cwd, env: cleanEnv });
}

const npm = (args: string[], cwd: string) =>
  run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd, env: cleanEnv });

let project: string;
const bin = () => join(project, 'node_modules', 'kelpie', 'bin', 'kelpie.js');

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'kelpie-install-'));
  const tarballs = join(project, 'tarballs');
  mkdirSync(tarballs);
  for (const dir of PACKAGES) await pnpm(['pack', '--pack-destination', tarballs], join(repo, dir));

  // A worker package made for a core that does not exist yet.
  const future = join(project, 'future-worker');
  mkdirSync(future);
  writeFileSync(
    join(future, 'package.json'),
    JSON.stringify({
      name: 'kelpie-worker-future',
      version: '1.0.0',
      type: 'module',
      exports: './index.js',
      peerDependencies: { '@kelpie/core': '*' },
    }),
  );
  writeFileSync(
    join(future, 'index.js'),
    [
      "import { Worker } from '@kelpie/core';",
      'export class FutureWorker extends Worker {',
      "  static meta = { name: 'future', version: '1.0.0', core: '^9.0.0' };",
      '  async serve() {}',
      '  async drain() {}',
      '}',
      '',
    ].join('\n'),
  );
  await npm(['pack', '--pack-destination', tarballs], future);

  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'fresh-project', private: true }));
  writeFileSync(join(project, 'app.js'), "module.exports = (req, res) => res.end('hello from a fresh project');\n");
  // What a worker author's own test looks like, run by node:test with the packed testkit.
  writeFileSync(
    join(project, 'conformance.test.mjs'),
    [
      "import { testWorker } from '@kelpie/worker-testkit/node-test';",
      "testWorker({ worker: 'yourname', only: ['boot', 'shape:fetch', 'max-requests', 'websocket'] });",
      '',
    ].join('\n'),
  );
  const files = readdirSync(tarballs).map((file) => join(tarballs, file));
  await npm(['install', ...files], project);
});

afterEach(stopAll);
afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('a fresh npm project outside the workspace', () => {
  it('runs a third-party worker found by name: kelpie -k yourname app.js serves a 200', async () => {
    const kp = await startKelpie(['-k', 'yourname', 'app.js'], { cwd: project, bin: bin() });
    expect(kp.log()).toMatch(/Using worker: yourname/);
    const reply = await get(`${kp.url}/`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('hello from a fresh project');
  });

  it('the packed worker testkit runs the conformance suite on the installed class, by name, under node:test', async () => {
    const { stdout } = await run(process.execPath, ['--test', '--test-reporter=spec', 'conformance.test.mjs'], {
      cwd: project,
      env: { ...cleanEnv, NO_COLOR: '1' },
    });
    expect(stdout).toMatch(/kelpie worker conformance: -k yourname/);
    expect(stdout).toMatch(/ℹ pass 4/);
    expect(stdout).toMatch(/ℹ fail 0/);
  });

  it('refuses a worker whose meta.core range excludes the installed core, before binding', async () => {
    const kp = await startKelpie(['-k', 'future', 'app.js'], { cwd: project, bin: bin(), waitFor: 'nothing' });
    expect(await kp.exited()).toEqual({ code: 3, signal: null });
    expect(kp.log()).toMatch(
      /Worker "future" 1\.0\.0 \(\S+kelpie-worker-future\S+\) supports @kelpie\/core \^9\.0\.0, but this is @kelpie\/core 0\.\d+\.\d+/,
    );
    expect(kp.log()).not.toMatch(/Listening at/);
  });

  it('after npm uninstall, names the packages it tried and the install command (exit 3)', async () => {
    await npm(['uninstall', 'kelpie-worker-yourname'], project);
    const kp = await startKelpie(['-k', 'yourname', 'app.js'], { cwd: project, bin: bin(), waitFor: 'nothing' });
    expect(await kp.exited()).toEqual({ code: 3, signal: null });
    expect(kp.log()).toMatch(/Worker class "yourname" not found\./);
    expect(kp.log()).toMatch(/Tried: @kelpie\/worker-yourname, kelpie-worker-yourname/);
    expect(kp.log()).toMatch(/Install it with: npm install kelpie-worker-yourname$/m);
  });
});
