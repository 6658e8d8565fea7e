// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are the sources of config files and apps
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { get } from './helpers.js';

// What a reload (HUP, --reload) must survive: an app or config file broken in between, and the
// settings that take effect on reload (environment, worker count, the watcher itself).

const KELPIE_PACKAGE = dirname(fileURLToPath(new URL('../package.json', import.meta.url)));
const dirs: string[] = [];

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kelpie-reload-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(KELPIE_PACKAGE, join(dir, 'node_modules', 'kelpie'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const answering = (body: string) => `export default (req, res) => res.end(${JSON.stringify(body)});\n`;

afterEach(stopAll);
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('reload', () => {
  it('HUP with an app that no longer loads keeps the old workers serving; HUP after the fix swaps them', async () => {
    const dir = project({ 'app.mjs': answering('v1') });
    const kp = await startKelpie(['-b', '127.0.0.1:0', '-w', '2', 'app.mjs'], { cwd: dir, autoBind: false });
    writeFileSync(join(dir, 'app.mjs'), 'export default (req, res) => {;\n');
    kp.signal('SIGHUP');
    await kp.waitForLog(
      /\[ERROR\] Reload failed \(the app failed to load\); keeping the 2 running worker\(s\) of the previous generation/,
    );
    for (let i = 0; i < 4; i++) expect((await get(kp.url)).body).toBe('v1');
    expect(kp.log()).not.toMatch(/Shutting down|Reason:/);

    writeFileSync(join(dir, 'app.mjs'), answering('v2'));
    kp.signal('SIGHUP');
    await waitUntil(async () => (await get(kp.url)).body === 'v2', { what: 'the fixed code to answer' });
    expect(await kp.stop()).toEqual({ code: 0, signal: null });
  });

  it('HUP applies -e from the config file afresh (a removed variable is unset again) and goes back to --workers after TTIN', async () => {
    const dir = project({
      'app.mjs': 'export default (req, res) => res.end(process.env.GREETING ?? "none");\n',
      'kelpie.config.mjs': 'export default { workers: 1, env: ["GREETING=one"] };\n',
    });
    const kp = await startKelpie(['-b', '127.0.0.1:0', 'app.mjs'], { cwd: dir, autoBind: false });
    expect((await get(kp.url)).body).toBe('one');
    writeFileSync(join(dir, 'kelpie.config.mjs'), 'export default { workers: 1, env: ["GREETING=two"] };\n');
    kp.signal('SIGHUP');
    await waitUntil(async () => (await get(kp.url)).body === 'two', { what: 'the new value' });
    writeFileSync(join(dir, 'kelpie.config.mjs'), 'export default { workers: 1 };\n');
    kp.signal('SIGTTIN');
    await kp.waitForLog(/Number of workers changed from 1 to 2/);
    kp.signal('SIGHUP');
    await kp.waitForLog(/Number of workers changed from 2 to 1/);
    await waitUntil(async () => (await get(kp.url)).body === 'none', { what: 'the variable to be gone' });
  });

  it('a config file broken after start: a replacement worker logs it and serves without the hooks', async () => {
    const dir = project({
      'app.mjs': answering('ok'),
      'kelpie.config.mjs': 'export default { postWorkerInit(w) { w.log.info(`hook postWorkerInit ${w.pid}`); } };\n',
    });
    const kp = await startKelpie(['-b', '127.0.0.1:0', '-w', '1', 'app.mjs'], { cwd: dir, autoBind: false });
    const first = Number((await kp.waitForLog(/hook postWorkerInit (\d+)/))[1]);
    writeFileSync(join(dir, 'kelpie.config.mjs'), 'export default {,};\n');
    process.kill(first, 'SIGKILL');
    await kp.waitForLog(
      /\[ERROR\] Could not load the worker hooks from .*kelpie\.config\.mjs; this worker runs without them/,
    );
    await waitUntil(async () => (await get(kp.url).catch(() => ({ body: '' }))).body === 'ok', {
      what: 'the replacement',
    });
    expect(kp.countLog(/Booting worker with pid/)).toBe(2);
  });

  it('--reload watches folders made after the start and skips node_modules; HUP turns it on from the config file', async () => {
    const dir = project({ 'app.mjs': answering('a'), 'kelpie.config.mjs': 'export default { workers: 1 };\n' });
    const kp = await startKelpie(['-b', '127.0.0.1:0', 'app.mjs'], { cwd: dir, autoBind: false });
    writeFileSync(join(dir, 'kelpie.config.mjs'), 'export default { workers: 1, reload: true };\n');
    kp.signal('SIGHUP');
    await waitUntil(() => kp.countLog(/Booting worker with pid/) === 2, { what: 'the HUP' });

    mkdirSync(join(dir, 'lib', 'deep'), { recursive: true });
    // Let the watcher of the new folder start before the file inside it is written.
    await waitUntil(() => kp.countLog(/Worker reloading: .*lib/) === 1, { what: 'the new folder to be noticed' });
    writeFileSync(join(dir, 'lib', 'deep', 'helper.mjs'), 'export const x = 1;\n');
    await waitUntil(() => kp.countLog(/Worker reloading: .*helper\.mjs modified/) === 1, { what: 'the file change' });

    writeFileSync(join(dir, 'node_modules', 'dependency.js'), 'module.exports = 1;\n');
    writeFileSync(join(dir, 'app.mjs'), answering('b'));
    await kp.waitForLog(/Worker reloading: .*app\.mjs modified/, { from: kp.log().lastIndexOf('helper.mjs') });
    expect(kp.log()).not.toMatch(/Worker reloading: .*node_modules/);
    await waitUntil(async () => (await get(kp.url)).body === 'b', { what: 'the new code' });
  });

  it('--reload ignores the log files and pidfile the server writes in the app folder', async () => {
    const dir = project({ 'app.mjs': answering('a') });
    const url = `http://127.0.0.1:${await freePort()}`;
    const log = () => {
      try {
        return readFileSync(join(dir, 'kelpie.log'), 'utf8');
      } catch {
        return '';
      }
    };
    await startKelpie(
      [
        '-b',
        url.slice('http://'.length),
        '--reload',
        '--error-logfile',
        'kelpie.log',
        '--pid',
        'kelpie.pid',
        'app.mjs',
      ],
      { cwd: dir, autoBind: false, waitFor: 'nothing' },
    );
    await waitUntil(() => /Ready: 1 worker serving/.test(log()), { what: 'the server to be ready' });
    // Writes to the log and a rotated log: no reload. Then a change of code, which reloads: the
    // one reload seen must be that one.
    for (let i = 0; i < 5; i++) await get(url);
    writeFileSync(join(dir, 'kelpie.log.1'), 'rotated\n');
    writeFileSync(join(dir, 'app.mjs'), answering('b'));
    await waitUntil(() => /Worker reloading: .*app\.mjs modified/.test(log()), { what: 'the reload for app.mjs' });
    expect(log()).not.toMatch(/Worker reloading: .*kelpie\.(log|pid)/);
  });

  it('a second USR2 while the preExec hook runs is ignored: one new arbiter', async () => {
    const dir = project({
      'app.mjs': answering('ok'),
      'kelpie.config.mjs':
        'export default { async preExec(s) { s.log.info("hook preExec"); await new Promise((r) => setTimeout(r, 400)); } };\n',
    });
    const kp = await startKelpie(['-b', '127.0.0.1:0', '-w', '1', 'app.mjs'], { cwd: dir, autoBind: false });
    kp.signal('SIGUSR2');
    await kp.waitForLog(/hook preExec/);
    kp.signal('SIGUSR2');
    await kp.waitForLog(/USR2 ignored: an upgrade is already being started/);
    const next = Number((await kp.waitForLog(/Started a new arbiter \(pid: (\d+)\)/))[1]);
    process.kill(next, 'SIGQUIT');
    await kp.waitForLog(/The new arbiter \(pid: \d+\) exited/);
    expect(kp.countLog(/Started a new arbiter/)).toBe(1);
    expect(kp.countLog(/hook preExec/)).toBe(1);
  });
});
