// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are the sources of config files
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultBin, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fixture, get, started } from './helpers.js';

/**
 * Bounds on settings and the deadline on config-file code (docs/security.md, "Bounds on settings
 * and startup deadlines"). Deadline tests set KELPIE_CONFIG_TIMEOUT to 1 second.
 */

const KELPIE_PACKAGE = dirname(fileURLToPath(new URL('../package.json', import.meta.url)));
const dirs: string[] = [];

afterEach(stopAll);
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** A fresh project folder with `files`, an app.mjs, and `kelpie` installed (a link to this package). */
function project(files: Record<string, string>): string {
  const dir = tempDir('kelpie-bounds-');
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(KELPIE_PACKAGE, join(dir, 'node_modules', 'kelpie'));
  writeFileSync(join(dir, 'app.mjs'), 'export default (req, res) => res.end(`pid ${process.pid}`);\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the kelpie command to its end (bounded: killed after `limitMs`). */
function runKelpie(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; uid?: number; limitMs?: number } = {},
): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [defaultBin(), ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, KELPIE_CMD_ARGS: '', NODE_PATH: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const limitMs = options.limitMs ?? 20_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kelpie ${args.join(' ')} did not end within ${limitMs} ms. stderr:\n${stderr}`));
    }, limitMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const app = fixture('pid-app.js');
/** --check-config parses every setting and exits: a value it accepts would have been served with. */
const check = (...args: string[]) => runKelpie(['--check-config', ...args, app]);

describe('every numeric setting has a maximum', () => {
  it('refuses values past the maximum, naming the flag, the value and the range', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['-w', '99999999999999999999'],
        /Invalid value for --workers: "99999999999999999999"\. Allowed: an integer from 1 to 4096, or "auto"/,
      ],
      [['-w', '5000'], /Invalid value for --workers: "5000"\. Allowed: an integer from 1 to 4096/],
      [['--graceful-timeout', '3000000'], /Invalid value for --graceful-timeout: "3000000"\. Allowed: .*0 to 2147482/],
      [['--keep-alive', '3000000'], /Invalid value for --keep-alive: "3000000"\. Allowed: .*0 to 2147482/],
      [['--timeout', '2147484'], /Invalid value for --timeout: "2147484"\. Allowed: .*0 to 2147483/],
      [['--header-timeout', '1e20'], /Invalid value for --header-timeout: "1e20"\. Allowed: .*0 to 2147483/],
      [['--ws-ping-interval', '9999999'], /Invalid value for --ws-ping-interval: "9999999"\. Allowed: .*0 to 2147483/],
      [
        ['--worker-connections', '99999999999999999999'],
        /Invalid value for --worker-connections: "99999999999999999999"\. Allowed: an integer from 1 to 1048576/,
      ],
      [
        ['--max-requests', '99999999999999999999'],
        /Invalid value for --max-requests: "99999999999999999999"\. Allowed: an integer from 0 to/,
      ],
      [['--max-worker-memory', '99999999999'], /Invalid value for --max-worker-memory: "99999999999"\. Allowed: /],
    ];
    for (const [args, message] of cases) {
      const result = await check(...args);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.code, args.join(' ')).toBe(2);
    }
  });

  it('refuses a non-safe integer in a config file too', async () => {
    const dir = project({ 'kelpie.config.mjs': 'export default { workers: 1e20, app: "app.mjs" };\n' });
    const result = await runKelpie(['--check-config'], { cwd: dir });
    expect(result.stderr).toMatch(
      /Invalid value for workers \(in kelpie\.config\.mjs\): 100000000000000000000\. Allowed: .*1 to 4096/,
    );
    expect(result.code).toBe(2);
  });

  it('--help shows the range of numeric settings', async () => {
    const { stdout, code } = await runKelpie(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/--graceful-timeout SECONDS .*\[30; 0 to 2147482\]/);
    expect(stdout).toMatch(/-w, --workers INT .*\[\$WEB_CONCURRENCY, else 1; 1 to 4096\]/);
  });

  it('the largest --graceful-timeout still lets an in-flight request finish on TERM', async () => {
    const kp = await startKelpie(['-w', '1', '--graceful-timeout', '2147482', app]);
    const reply = await started(`${kp.url}/stream?ms=1500`);
    kp.signal('SIGTERM');
    await kp.waitForLog(/Handling signal: term/i);
    expect(await reply.body).toBe('start\nend\n');
    expect((await kp.exited()).code).toBe(0);
    expect(kp.log()).not.toMatch(/TimeoutOverflowWarning|Graceful timeout .* reached/);
  });
});

describe('the control socket', () => {
  it('refuses to add more workers in one request than --workers allows', async () => {
    const socket = join(tempDir('kelpie-ctl-'), 'kelpie.ctl');
    const kp = await startKelpie(['--control-socket', socket, app]);
    const result = await runKelpie(['ctl', '--control-socket', socket, 'workers', 'add', '99999999']);
    expect(result.stderr).toMatch(/count must be a whole number from 1 to 4096, not 99999999/);
    expect(result.code).toBe(1);
    expect(kp.log()).not.toMatch(/Number of workers changed/);
  });
});

describe('negative numbers', () => {
  it('name the flag and what is allowed, not the parser', async () => {
    const workers = await check('-w', '-1');
    expect(workers.stderr).toMatch(/Invalid value for --workers: "-1"\. Allowed: an integer from 1 to 4096/);
    expect(workers.code).toBe(2);
    const timeout = await check('--timeout', '-5');
    expect(timeout.stderr).toMatch(
      /Invalid value for --timeout: "-5"\. Allowed: a number of seconds from 0 to 2147483/,
    );
    expect(timeout.code).toBe(2);
    const short = await check('-t', '-5');
    expect(short.stderr).toMatch(/Invalid value for --timeout: "-5"/);
  });
});

describe('a unix socket in a folder that cannot hold it', () => {
  it('a missing folder is named as missing', async () => {
    const missing = join(tempDir('kelpie-bind-'), 'missing-dir');
    const result = await runKelpie(['-b', `unix:${missing}/x.sock`, '--no-control-socket', app]);
    expect(result.stderr).toMatch(
      new RegExp(`Can't bind unix:${missing}/x\\.sock: the folder ${missing} does not exist`),
    );
    expect(result.code).toBe(1);
  });

  it('a folder this user may not write is named as such', async () => {
    const dir = join(tempDir('kelpie-bind-'), 'read-only');
    mkdirSync(dir);
    // Root writes anywhere: run kelpie as nobody then, in a folder nobody does not own.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chownSync(dirname(dir), 65534, 65534);
    chmodSync(dir, 0o555);
    const result = await runKelpie(['-b', `unix:${dir}/x.sock`, '--no-control-socket', app], {
      ...(asRoot ? { uid: 65534 } : {}),
    });
    expect(result.stderr).toMatch(
      new RegExp(`Can't bind unix:${dir}/x\\.sock: the folder ${dir} is not writable by this user`),
    );
    expect(result.code).toBe(1);
  });
});

const DEADLINE = { KELPIE_CONFIG_TIMEOUT: '1' };

describe('config-file code that never settles', () => {
  it('a default export that never settles: a message naming the file, exit 5', async () => {
    const dir = project({ 'kelpie.config.js': 'export default new Promise(() => {});\n' });
    const result = await runKelpie(['app.mjs'], { cwd: dir, env: DEADLINE });
    expect(result.stderr).toMatch(/Config file .*kelpie\.config\.js did not finish loading: .*default export/);
    expect(result.stderr).not.toMatch(/Listening at/);
    expect(result.code).toBe(5);
  });

  it('a top-level await that never settles (nothing else pending): exit 5, not 13', async () => {
    // Nothing could ever settle it: said at once, without waiting for the deadline.
    const dir = project({ 'kelpie.config.mjs': 'await new Promise(() => {});\nexport default {};\n' });
    const result = await runKelpie(['app.mjs'], { cwd: dir });
    expect(result.stderr).toMatch(
      /Config file .*kelpie\.config\.mjs did not finish loading: .* is pending, and nothing is left running that could settle it/,
    );
    expect(result.code).toBe(5);
  });

  it('a top-level await that never settles while a timer runs: exit 5, not a hang', async () => {
    const dir = project({
      'kelpie.config.mjs': 'setInterval(() => {}, 1000);\nawait new Promise(() => {});\nexport default {};\n',
    });
    const result = await runKelpie(['app.mjs'], { cwd: dir, env: DEADLINE });
    expect(result.stderr).toMatch(
      /Config file .*kelpie\.config\.mjs did not finish loading: .* is still pending after 1 s\. Make it settle, or raise KELPIE_CONFIG_TIMEOUT/,
    );
    expect(result.code).toBe(5);
  });

  it('an onStarting hook that never resolves: a message naming the hook, exit 5', async () => {
    // A timer keeps the process busy, so the deadline is what ends the wait.
    const dir = project({
      'kelpie.config.mjs':
        'export default { onStarting() { setInterval(() => {}, 1000); return new Promise(() => {}); } };\n',
    });
    const result = await runKelpie(['-b', '127.0.0.1:0', 'app.mjs'], { cwd: dir, env: DEADLINE });
    expect(result.stderr).toMatch(/Hook onStarting did not finish: it is still pending after 1 s/);
    expect(result.stderr).not.toMatch(/Listening at/);
    expect(result.code).toBe(5);

    // With nothing else running it could never settle: said at once (Node would exit 13 silently).
    writeFileSync(
      join(dir, 'kelpie.config.mjs'),
      'export default { onStarting() { return new Promise(() => {}); } };\n',
    );
    const idle = await runKelpie(['-b', '127.0.0.1:0', 'app.mjs'], { cwd: dir });
    expect(idle.stderr).toMatch(/Hook onStarting did not finish: it is pending, and nothing is left running/);
    expect(idle.code).toBe(5);
  });

  it('a bad KELPIE_CONFIG_TIMEOUT is a usage error naming it', async () => {
    const result = await runKelpie(['--check-config', app], { env: { KELPIE_CONFIG_TIMEOUT: '1e20' } });
    expect(result.stderr).toMatch(/Invalid value for KELPIE_CONFIG_TIMEOUT: "1e20"\. Allowed: .*0 to 2147483/);
    expect(result.code).toBe(2);
  });

  it('HUP: a file that no longer settles, or an onReload that never does, does not wedge reloads', async () => {
    const dir = project({ 'kelpie.config.mjs': 'export default { workers: 1 };\n' });
    const kp = await startKelpie(['-b', '127.0.0.1:0', 'app.mjs'], { cwd: dir, autoBind: false, env: DEADLINE });

    writeFileSync(join(dir, 'kelpie.config.mjs'), 'await new Promise(() => {});\nexport default { workers: 2 };\n');
    let from = kp.log().length;
    kp.signal('SIGHUP');
    await kp.waitForLog(
      /Reload failed, keeping the running configuration and workers: Config file .*kelpie\.config\.mjs did not finish loading: .* still pending after 1 s/,
      { from },
    );
    expect((await get(`${kp.url}/`)).status).toBe(200);

    writeFileSync(
      join(dir, 'kelpie.config.mjs'),
      'export default { workers: 2, onReload() { return new Promise(() => {}); } };\n',
    );
    from = kp.log().length;
    kp.signal('SIGHUP');
    await kp.waitForLog(/Hook onReload did not finish: it is still pending after 1 s\. .* Going on without it\./, {
      from,
    });
    // The reload goes on: a generation of two new workers.
    const booted = () => kp.log().slice(from).split('Booting worker with pid').length - 1;
    await waitUntil(() => booted() >= 2, { what: 'two new workers after the reload', timeoutMs: 20_000 });
    expect((await get(`${kp.url}/`)).status).toBe(200);
  });

  it('a worker whose copy of the config file never settles serves without the worker hooks', async () => {
    // Settles in the arbiter (no IPC channel there), never in a worker.
    const dir = project({
      'kelpie.config.mjs':
        'if (process.send) await new Promise(() => {});\nexport default { postWorkerInit(w) { w.log.info("hook ran"); } };\n',
    });
    const kp = await startKelpie(['-b', '127.0.0.1:0', 'app.mjs'], { cwd: dir, autoBind: false, env: DEADLINE });
    expect(kp.log()).toMatch(
      /Could not load the worker hooks from .*kelpie\.config\.mjs; this worker runs without them/,
    );
    expect(kp.log()).not.toMatch(/hook ran/);
    expect((await get(`${kp.url}/`)).status).toBe(200);
  });
});
