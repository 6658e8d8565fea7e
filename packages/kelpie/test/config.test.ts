// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are the sources of config files and apps
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { get } from './helpers.js';

const KELPIE_PACKAGE = dirname(fileURLToPath(new URL('../package.json', import.meta.url)));
const dirs: string[] = [];

/** A fresh project folder with `files`, an app.mjs, and `kelpie` installed (a link to this package). */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kelpie-config-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(KELPIE_PACKAGE, join(dir, 'node_modules', 'kelpie'));
  writeFileSync(join(dir, 'app.mjs'), 'export default (req, res) => res.end(`pid ${process.pid}`);\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Run kelpie to completion (for --print-config, --check-config and errors): exit code, stdout, log. */
async function runToEnd(args: string[], cwd: string, env: Record<string, string> = {}) {
  const kp = await startKelpie(args, { cwd, env, waitFor: 'nothing', autoBind: false });
  const exit = await kp.exited();
  return { code: exit.code, stdout: kp.stdout(), log: kp.log() };
}

afterEach(stopAll);
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('config file', () => {
  it('loads kelpie.config.ts from the current directory (TypeScript on this Node), with its app and hooks', async () => {
    const dir = project({
      'kelpie.config.ts': [
        "import { defineConfig } from 'kelpie';",
        'const workers: number = 2;',
        'export default defineConfig({',
        '  workers,',
        "  bind: '127.0.0.1:0',",
        "  app: 'app.mjs',",
        '  whenReady(server) { server.log.info(`hook whenReady ${server.workers.length}`); },',
        '  postWorkerInit(worker) { worker.log.info(`hook postWorkerInit ${worker.pid}`); },',
        '  preRequest(worker, req) { worker.log.info(`hook preRequest ${req.url}`); },',
        '  postRequest(worker, req, res) { worker.log.info(`hook postRequest ${req.url} ${res.statusCode}`); },',
        '});',
        '',
      ].join('\n'),
    });
    const kp = await startKelpie([], { cwd: dir, autoBind: false });
    await kp.waitForLog(/hook whenReady 2/);
    expect(kp.countLog(/hook postWorkerInit \d+/)).toBe(2);
    expect((await get(`${kp.url}/hello`)).status).toBe(200);
    await kp.waitForLog(/hook preRequest \/hello/);
    await kp.waitForLog(/hook postRequest \/hello 200/);
  });

  it('request hooks run in the threads of -k threads too', async () => {
    const dir = project({
      'kelpie.config.mjs':
        'export default { preRequest(w, req) { w.log.info(`hook preRequest ${req.url} ${w.pid}`); } };\n',
    });
    const kp = await startKelpie(['-b', '127.0.0.1:0', '-k', 'threads', '--threads', '2', 'app.mjs'], {
      cwd: dir,
      autoBind: false,
    });
    const reply = await get(`${kp.url}/threaded`);
    expect(reply.status).toBe(200);
    await kp.waitForLog(new RegExp(`hook preRequest /threaded ${reply.body.split(' ')[1]}`));
  });

  it('ranks defaults < config file < KELPIE_CMD_ARGS < command line (--print-config shows the source)', async () => {
    const dir = project({ 'kelpie.config.mjs': 'export default { workers: 3, timeout: 7, keepAlive: 9 };\n' });
    const { code, stdout } = await runToEnd(['--print-config', '-w', '1', 'app.mjs'], dir, {
      KELPIE_CMD_ARGS: '-w 2 --timeout 8',
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^# config file: .*kelpie\.config\.mjs$/m);
    expect(stdout).toMatch(/^workers += 1 {2}# command line$/m);
    expect(stdout).toMatch(/^timeout += 8 {2}# KELPIE_CMD_ARGS$/m);
    expect(stdout).toMatch(/^keepAlive += 9 {2}# config file$/m);
    expect(stdout).toMatch(/^gracefulTimeout += 30$/m);
  });

  it('-c names the file; a CommonJS file works; a missing one is an error naming it', async () => {
    const dir = project({ 'prod.cjs': 'module.exports = { workers: 4 };\n' });
    const ok = await runToEnd(['--print-config', '-c', 'prod.cjs', 'app.mjs'], dir);
    expect(ok.stdout).toMatch(/^workers += 4 {2}# config file$/m);
    const missing = await runToEnd(['-c', 'nope.mjs', 'app.mjs'], dir);
    expect(missing.code).toBe(2);
    expect(missing.log).toMatch(/Config file not found: .*nope\.mjs \(from --config\)/);
  });

  it.each([
    [
      'a syntax error',
      'export default { workers: 2,, };\n',
      /Error loading config file .*kelpie\.config\.mjs: SyntaxError: /,
    ],
    [
      'an unknown setting',
      'export default { wrokers: 2 };\n',
      /Unknown setting "wrokers" in kelpie\.config\.mjs\. Did you mean "workers"\?/,
    ],
    [
      'a snake_case name',
      'export default { worker_class: "sync" };\n',
      /Unknown setting "worker_class" in kelpie\.config\.mjs\. Did you mean "workerClass"\?/,
    ],
    [
      'a value of the wrong type',
      'export default { workers: "many" };\n',
      /Invalid value for workers \(in kelpie\.config\.mjs\): "many"\. Allowed: an integer from 1 to 4096/,
    ],
    [
      'a hook that is not a function',
      'export default { onStarting: "soon" };\n',
      /Hook "onStarting" in kelpie\.config\.mjs must be a function, got string\./,
    ],
    ['an export that is not an object', 'export default 42;\n', /must export an object .*got number/],
  ])('a config file with %s stops kelpie with exit 2 and says what is wrong', async (_what, source, message) => {
    const dir = project({ 'kelpie.config.mjs': source });
    const { code, log } = await runToEnd(['app.mjs'], dir);
    expect(code).toBe(2);
    expect(log).toMatch(message);
    expect(log).not.toMatch(/Listening at/);
  });

  it('--check-config exits 0 for a good configuration and 4 for an app that cannot load', async () => {
    const dir = project({
      'kelpie.config.mjs': 'export default { workers: 2 };\n',
      'broken.mjs': 'throw new Error("broken at import");\n',
    });
    const ok = await runToEnd(['--check-config', 'app.mjs'], dir);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/Configuration OK: config file .*kelpie\.config\.mjs, worker class async, app app\.mjs/);
    const bad = await runToEnd(['--check-config', 'broken.mjs'], dir);
    expect(bad.code).toBe(4);
    expect(bad.log).toMatch(/broken at import/);
  });

  it('--preload: an app that cannot load stops kelpie with exit 4 before anything is bound', async () => {
    const dir = project({ 'broken.mjs': 'throw new Error("broken at import");\n' });
    const { code, log } = await runToEnd(['--preload', '-b', '127.0.0.1:0', 'broken.mjs'], dir);
    expect(code).toBe(4);
    expect(log).toMatch(/broken at import/);
    expect(log).not.toMatch(/Listening at|Booting worker/);
  });

  it('HUP reads the config file again: a new worker count and hooks take effect; a broken file keeps the old setup', async () => {
    const dir = project({
      'kelpie.config.mjs': 'export default { workers: 1, onReload(s) { s.log.info("hook onReload v1"); } };\n',
    });
    const kp = await startKelpie(['-b', '127.0.0.1:0', 'app.mjs'], { cwd: dir, autoBind: false });
    writeFileSync(
      join(dir, 'kelpie.config.mjs'),
      'export default { workers: 2, onReload(s) { s.log.info(`hook onReload v2 ${s.numWorkers}`); } };\n',
    );
    kp.signal('SIGHUP');
    await kp.waitForLog(/Number of workers changed from 1 to 2/);
    await kp.waitForLog(/hook onReload v2 2/);
    await waitUntil(() => kp.countLog(/Booting worker with pid/) >= 3, { what: 'two new workers' });
    expect(kp.log()).not.toMatch(/hook onReload v1/);

    const before = kp.log().length;
    writeFileSync(join(dir, 'kelpie.config.mjs'), 'export default { workers: 2,, };\n');
    kp.signal('SIGHUP');
    await kp.waitForLog(/Reload failed, keeping the running configuration and workers: Error loading config file/, {
      from: before,
    });
    expect(kp.log().slice(before)).not.toMatch(/Booting worker/);
    expect((await get(`${kp.url}/`)).status).toBe(200);
  });

  it('arbiter and worker hooks run at their moments; a hook that throws is logged and changes nothing', async () => {
    const log = (name: string, extra = '') => `  ${name}(a, b, c) { (a.log).info(\`hook ${name}${extra}\`); },`;
    const dir = project({
      'kelpie.config.mjs': [
        'export default {',
        '  onStarting() { throw new Error("onStarting failed on purpose"); },',
        log('preFork', ' ${b.age}'),
        log('postFork', ' ${b.pid}'),
        log('childExit', ' ${b.pid} ${b.code}'),
        log('nworkersChanged', ' ${b} from ${c}'),
        log('workerInt', ' ${a.pid}'),
        log('workerExit', ' ${a.pid}'),
        log('onExit'),
        log('workerAbort', ' ${a.pid}'),
        log('preExec', ' ${a.pid}'),
        log('postWorkerInit', ' ${a.pid}'),
        '};',
        '',
      ].join('\n'),
    });
    const kp = await startKelpie(['-b', '127.0.0.1:0', '-w', '1', 'app.mjs'], { cwd: dir, autoBind: false });
    expect(kp.log()).toMatch(/\[ERROR\] Error in hook onStarting[\s\S]*onStarting failed on purpose/);
    // ABRT, as the arbiter sends it after a missed heartbeat: workerAbort, exit 1, a replacement.
    const first = Number(kp.log().match(/hook postFork (\d+)/)?.[1]);
    process.kill(first, 'SIGABRT');
    await kp.waitForLog(new RegExp(`hook workerAbort ${first}`));
    await kp.waitForLog(new RegExp(`hook childExit ${first} 1`));
    await waitUntil(() => kp.countLog(/hook postFork \d+/) === 2, { what: 'a replacement' });
    // USR2 runs preExec before it starts the new arbiter (stopped again at once).
    kp.signal('SIGUSR2');
    await kp.waitForLog(new RegExp(`hook preExec ${kp.pid}`));
    const next = Number((await kp.waitForLog(/Started a new arbiter \(pid: (\d+)\)/))[1]);
    process.kill(next, 'SIGQUIT');
    await kp.waitForLog(/The new arbiter \(pid: \d+\) exited/);
    expect(kp.log()).toMatch(/hook preFork 1/);
    const pid = Number([...kp.log().matchAll(/hook postFork (\d+)/g)].at(-1)?.[1]);
    await kp.waitForLog(new RegExp(`hook postWorkerInit ${pid}`));
    kp.signal('SIGTTIN');
    await kp.waitForLog(/hook nworkersChanged 2 from 1/);
    await waitUntil(() => kp.countLog(/hook postWorkerInit \d+/) === 3, { what: 'the second worker' });
    kp.signal('SIGINT');
    expect(await kp.exited()).toEqual({ code: 0, signal: null });
    expect(kp.log()).toMatch(new RegExp(`hook workerInt ${pid}`));
    expect(kp.log()).toMatch(new RegExp(`hook workerExit ${pid}`));
    expect(kp.log()).toMatch(new RegExp(`hook childExit ${pid} 0`));
    expect(kp.log()).toMatch(/Shutting down: Master[\s\S]*hook onExit/);
  });
});
