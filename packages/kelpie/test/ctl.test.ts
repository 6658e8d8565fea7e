import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerStatus } from '@kelpie/core/internal';
import { defaultBin, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { ensureCommand, findCommand } from '@kelpie/testkit/apt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { fixture, get, started } from './helpers.js';

// `kelpie ctl` against real servers: every command, its errors and exit statuses, and `top`
// drawn in a real terminal (tmux).

const bin = defaultBin();
const dir = mkdtempSync(join(tmpdir(), 'kelpie-ctl-'));
let count = 0;
/** A fresh path in the test folder (short: unix socket paths are limited to about 100 bytes). */
const path = (name: string) => join(dir, `${++count}-${name}`);

afterEach(stopAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `kelpie ctl ...args` to completion. */
function ctl(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'ctl', ...args], { env, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

/** `kelpie ctl ...args` in this process, for what needs no server: usage errors and help. */
async function ctlHere(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(['ctl', ...args], {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

/** `kelpie ctl status --json` on `socket`, parsed. */
async function status(socket: string): Promise<ServerStatus> {
  const run = await ctl(['--control-socket', socket, 'status', '--json']);
  if (run.code !== 0) throw new Error(`kelpie ctl status failed (${run.code}): ${run.stderr}`);
  return JSON.parse(run.stdout) as ServerStatus;
}

/** A server with `workers` workers and its own control socket. */
async function server(workers: number, extra: string[] = []) {
  const socket = path('k.ctl');
  const kp = await startKelpie(['-w', String(workers), '--control-socket', socket, ...extra, fixture('pid-app.js')]);
  return { kp, socket };
}

/** Wait until the server has exactly `n` workers, all ready; their pids. */
async function readyWorkers(socket: string, n: number, what: string): Promise<number[]> {
  const found = await waitUntil(
    async () => {
      const { workers } = await status(socket);
      const ready = workers.length === n && workers.every((w) => w.state === 'ready');
      return ready ? workers.map((w) => w.pid) : undefined;
    },
    { what, intervalMs: 100 },
  );
  return found;
}

describe('kelpie ctl', () => {
  it('status: the server and a row per worker with its requests; --json for scripts; the socket is 0600', async () => {
    const { kp, socket } = await server(2);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    for (let i = 0; i < 6; i++) expect((await get(kp.url)).status).toBe(200);
    // Workers report their counts with each heartbeat (every second).
    const json = await waitUntil(
      async () => {
        const s = await status(socket);
        return s.workers.reduce((n, w) => n + w.requests, 0) === 6 ? s : undefined;
      },
      { what: '6 requests in the status', intervalMs: 100 },
    );
    expect(json).toMatchObject({ pid: kp.pid, numWorkers: 2, state: 'running', workerClass: 'async' });
    expect(json.listeners).toEqual([kp.url]);
    expect(json.workers).toHaveLength(2);
    for (const w of json.workers) {
      expect(w).toMatchObject({ state: 'ready', inFlight: 0 });
      expect(w.rss).toBeGreaterThan(1024 * 1024);
      expect(w.lag).toBeGreaterThanOrEqual(0);
    }

    const run = await ctl(['--control-socket', socket, 'status']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^Server +pid ${kp.pid}, kelpie \\d+\\.\\d+\\.\\d+, running, up \\d+s$`));
    expect(run.stdout).toMatch(/^App +\S*pid-app\.js \(worker class async\)$/m);
    expect(run.stdout).toMatch(/^Workers +2\/2$/m);
    expect(run.stdout).toContain(`Listening  ${kp.url}`);
    const titles = lines.find((line) => line.includes('PID')) as string;
    expect(titles.trim().split(/ {2,}/)).toEqual([
      'PID',
      'AGE',
      'STATE',
      'UPTIME',
      'REQUESTS',
      'IN FLIGHT',
      'RSS MB',
      'LAG MS',
      'HEARTBEAT',
    ]);
    for (const w of json.workers) {
      const row = lines.find((line) => line.trim().startsWith(`${w.pid} `)) as string;
      expect(row.trim().split(/ +/)).toEqual([
        String(w.pid),
        String(w.age),
        'ready',
        expect.stringMatching(/^\d+s$/),
        expect.stringMatching(/^\d+$/),
        '0',
        expect.stringMatching(/^\d+\.\d$/),
        expect.stringMatching(/^\d+\.\d$/),
        expect.stringMatching(/^\d+\.\ds$/),
      ]);
    }
    const counted = json.workers.map((w) => lines.find((line) => line.trim().startsWith(`${w.pid} `)) as string);
    expect(counted.reduce((n, row) => n + Number(row.trim().split(/ +/)[4]), 0)).toBe(6);
  });

  it('status counts requests in flight, with metrics off (from the open connections) and on (per request)', async () => {
    for (const extra of [[], ['--metrics-bind', '127.0.0.1:0']]) {
      const { kp, socket } = await server(1, extra);
      const slow = await started(`${kp.url}/stream?ms=2500`);
      await waitUntil(async () => (await status(socket)).workers[0]?.inFlight === 1, {
        what: `one request in flight (${extra.join(' ') || 'no metrics'})`,
      });
      expect(await slow.body).toBe('start\nend\n');
      await waitUntil(async () => (await status(socket)).workers[0]?.inFlight === 0, { what: 'none in flight' });
      await kp.stop();
    }
  });

  it('workers add and remove change the number of workers; never below 1', async () => {
    const { kp, socket } = await server(2);
    const added = await ctl(['--control-socket', socket, 'workers', 'add', '1']);
    expect(added).toMatchObject({ code: 0, stdout: 'Number of workers: 3\n' });
    await kp.waitForLog(/Number of workers changed from 2 to 3/);
    await readyWorkers(socket, 3, '3 workers');

    const removed = await ctl(['--control-socket', socket, 'workers', 'remove', '2']);
    expect(removed).toMatchObject({ code: 0, stdout: 'Number of workers: 1\n' });
    await kp.waitForLog(/Number of workers changed from 3 to 1/);
    await readyWorkers(socket, 1, '1 worker');
    expect((await status(socket)).numWorkers).toBe(1);

    const refused = await ctl(['--control-socket', socket, 'workers', 'remove', '1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('kelpie ctl: workers remove 1: cannot remove 1 of 1 worker(s): at least 1 must stay\n');
    expect((await status(socket)).numWorkers).toBe(1);
  });

  it('worker kill PID: that worker exits and a new one takes its place; an unknown pid is an error', async () => {
    const { kp, socket } = await server(2);
    const [victim, other] = await readyWorkers(socket, 2, '2 workers');
    const run = await ctl(['--control-socket', socket, 'worker', 'kill', String(victim)]);
    expect(run).toMatchObject({ code: 0, stdout: `Worker ${victim} is stopping; a new one will replace it.\n` });
    await kp.waitForLog(new RegExp(`Worker exiting \\(pid: ${victim}\\)`));
    const after = await waitUntil(
      async () => {
        const pids = await readyWorkers(socket, 2, '2 workers again');
        return pids.includes(victim as number) ? undefined : pids;
      },
      { what: 'a replacement worker' },
    );
    expect(after).toContain(other);

    const unknown = await ctl(['--control-socket', socket, 'worker', 'kill', '1']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^kelpie ctl: worker kill 1: no worker with pid 1; workers: \d+, \d+\n$/);
  });

  it('reload: a new generation of workers replaces the old one', async () => {
    const { kp, socket } = await server(2);
    const before = await readyWorkers(socket, 2, '2 workers');
    const run = await ctl(['--control-socket', socket, 'reload']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Reloading/);
    await kp.waitForLog(/Hang up: Master/);
    await waitUntil(
      async () => {
        const pids = await readyWorkers(socket, 2, '2 workers');
        return pids.every((pid) => !before.includes(pid));
      },
      { what: 'two new workers' },
    );
    expect((await get(kp.url)).status).toBe(200);
  });

  it('reopen: the access log moved away by logrotate is created again', async () => {
    const log = path('access.log');
    const { kp, socket } = await server(1, ['--access-logfile', log]);
    await get(kp.url);
    await waitUntil(() => existsSync(log) && readFileSync(log, 'utf8').includes('GET /'), { what: 'the access log' });
    renameSync(log, `${log}.1`);
    const run = await ctl(['--control-socket', socket, 'reopen']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^Log files reopened/);
    // The worker reopens its file when the arbiter's USR1 reaches it, just after the answer.
    await waitUntil(
      async () => {
        await get(`${kp.url}/after-reopen`);
        return existsSync(log) && readFileSync(log, 'utf8').includes('GET /after-reopen');
      },
      { what: 'a new access log file', intervalMs: 100 },
    );
    expect(readFileSync(`${log}.1`, 'utf8')).toContain('GET /');
  });

  it('shutdown stops the server gracefully, --quick quickly; both exit 0 and remove the socket', async () => {
    const [graceful, quick] = await Promise.all([server(1), server(1)]);
    const runs = await Promise.all([
      ctl(['--control-socket', graceful.socket, 'shutdown']),
      ctl(['--control-socket', quick.socket, 'shutdown', '--quick']),
    ]);
    expect(runs[0]).toMatchObject({ code: 0, stdout: 'Shutting down: in-flight requests finish first.\n' });
    expect(runs[1]).toMatchObject({ code: 0, stdout: 'Shutting down quickly: in-flight requests are dropped.\n' });
    expect(await graceful.kp.exited()).toEqual({ code: 0, signal: null });
    expect(await quick.kp.exited()).toEqual({ code: 0, signal: null });
    expect(graceful.kp.log()).toMatch(/Shutdown requested on the control socket \(graceful\)/);
    expect(quick.kp.log()).toMatch(/Shutdown requested on the control socket \(quick\)/);
    expect(existsSync(graceful.socket)).toBe(false);
    expect(existsSync(quick.socket)).toBe(false);
  });

  it('the default socket is $XDG_RUNTIME_DIR/kelpie.ctl; --no-control-socket opens none', async () => {
    const runtime = path('run');
    const kp = await startKelpie(['-w', '1', fixture('pid-app.js')], { env: { XDG_RUNTIME_DIR: runtime } });
    expect(statSync(join(runtime, 'kelpie.ctl')).mode & 0o777).toBe(0o600);
    const run = await ctl(['status', '--json'], { ...process.env, XDG_RUNTIME_DIR: runtime });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as ServerStatus).pid).toBe(kp.pid);

    const none = path('none');
    await startKelpie(['-w', '1', '--no-control-socket', fixture('pid-app.js')], { env: { XDG_RUNTIME_DIR: none } });
    expect(existsSync(join(none, 'kelpie.ctl'))).toBe(false);
    const refused = await ctl(['status'], { ...process.env, XDG_RUNTIME_DIR: none });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`no control socket at ${join(none, 'kelpie.ctl')}`);
  });

  it('no server: a missing socket, a stale one (its server killed) and a silent one exit 1 saying what to do', async () => {
    const missing = path('missing.ctl');
    const run = await ctl(['--control-socket', missing, 'status']);
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr).toBe(
      `kelpie ctl: no control socket at ${missing} (is the server running, with this --control-socket?)\n`,
    );

    // A process that dies with SIGKILL leaves its socket file behind.
    const stale = path('stale.ctl');
    const listener = `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`;
    expect(spawnSync(process.execPath, ['-e', listener]).signal).toBe('SIGKILL');
    expect(statSync(stale).isSocket()).toBe(true);
    const dead = await ctl(['--control-socket', stale, 'reload']);
    expect(dead).toMatchObject({ code: 1, stdout: '' });
    expect(dead.stderr).toBe(
      `kelpie ctl: no server answers on ${stale} (it is not running any more); start kelpie again (it replaces the stale socket) or remove ${stale}\n`,
    );

    // One that accepts and never answers, as an arbiter whose event loop is stuck.
    const stuck = path('stuck.ctl');
    const silent = createServer(() => {}).listen(stuck);
    await once(silent, 'listening');
    try {
      const waited = await ctl(['--control-socket', stuck, '--timeout', '0.3', 'status']);
      expect(waited).toMatchObject({ code: 1, stdout: '' });
      expect(waited.stderr).toBe(
        `kelpie ctl: no answer on ${stuck} within 0.3 s (is the server stuck? --timeout waits longer)\n`,
      );
    } finally {
      silent.close();
    }
  });

  it('usage errors exit 2 naming the command, the value and what is allowed; help lists every command', async () => {
    const socket = path('unused.ctl');
    const cases: [string[], RegExp][] = [
      [[], /a command is needed; commands: status, top, reload/],
      [['frob'], /unknown command "frob"; commands: status, top, reload, reopen, shutdown \[--quick\], workers add N/],
      [['workers', 'add'], /workers add: missing N, the number of workers to add \(a whole number of 1 or more\)/],
      [['workers', 'add', 'two'], /workers add: N must be a whole number of 1 or more, not "two"/],
      [['workers', 'remove', '0'], /workers remove: N must be a whole number of 1 or more, not "0"/],
      [['workers', 'remove', '-1'], /workers remove: N must be a whole number of 1 or more, not "-1"/],
      [['workers', 'grow', '1'], /workers: unknown subcommand "grow", not one of: add N, remove N, kill PID/],
      [['worker', 'kill'], /worker kill: missing PID/],
      [['worker', 'kill', '12.5'], /worker kill: PID must be a whole number of 1 or more, not "12.5"/],
      [['status', 'now'], /status: unexpected "now"/],
      [['status', '--quick'], /--quick goes with shutdown/],
      [['top', '--json'], /top: --json goes with status/],
      [['status', '--frob'], /Unknown option '--frob'/],
      [
        ['status', '--timeout', '0'],
        /--timeout must be a number of seconds greater than 0, such as 10 or 0\.5, not "0"/,
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => ctlHere(['--control-socket', socket, ...args])));
    runs.forEach((run, i) => {
      const [args, message] = cases[i] as [string[], RegExp];
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr).toMatch(/^usage: kelpie ctl /);
      expect(run.stderr).toMatch(new RegExp(`\\nkelpie ctl: ${message.source}`));
      expect(run.stderr).toContain("Try 'kelpie ctl --help'.");
    });
    // Nothing was sent anywhere: no server was needed to find these.
    expect(existsSync(socket)).toBe(false);
    // The same through the kelpie command.
    expect(await ctl(['frob'])).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(/unknown command/),
    });

    for (const help of [['help'], ['--help'], ['-h'], ['status', '--help']]) {
      const run = await ctlHere(help);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      for (const command of [
        'status',
        'top',
        'reload',
        'reopen',
        'shutdown [--quick]',
        'workers add N',
        'workers remove N',
        'worker kill PID',
        'help',
      ]) {
        expect(run.stdout).toMatch(new RegExp(`^  ${command.replace(/[[\]]/g, '\\$&')} `, 'm'));
      }
    }
  });

  it('top without a terminal prints one frame', async () => {
    const { kp, socket } = await server(2);
    const pids = await readyWorkers(socket, 2, '2 workers');
    const run = await ctl(['--control-socket', socket, 'top']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).not.toContain('\x1b');
    expect(run.stdout).toMatch(new RegExp(`^kelpie \\S+  pid ${kp.pid}  running  up \\d+s  async  `));
    expect(run.stdout).toMatch(/^workers 2\/2 {2}listening http:\/\/127\.0\.0\.1:\d+$/m);
    expect(run.stdout).toMatch(/^req\/s - {2}in flight 0 {2}requests \d+ {2}RSS \d+\.\d MB$/m);
    for (const pid of pids) expect(run.stdout).toMatch(new RegExp(`^ *${pid} `, 'm'));
  });
});

describe('kelpie ctl top in a terminal', () => {
  // A tmux server of this test file's own: its sessions never meet the user's.
  const tmuxName = `kelpie-ctl-test-${process.pid}`;
  const tmux = (...args: string[]) => {
    const result = spawnSync(findCommand('tmux') as string, ['-L', tmuxName, ...args], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  // -J: a line wrapped by a narrow pane comes back whole.
  const screen = () => tmux('capture-pane', '-p', '-J', '-t', 'top');
  const quote = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;
  /** Whether the pane shows the alternate screen, and the cursor: `1 0` while top runs, `0 1` after. */
  const terminal = () => tmux('display-message', '-p', '-t', 'top', '#{alternate_on} #{cursor_flag}').trim();
  /** Start `kelpie ctl top` in a detached tmux session of that size (the pane stays after it exits); its first frame. */
  const startTop = async (socket: string, width: number, height: number) => {
    const missing = await ensureCommand('tmux', 'tmux');
    if (missing) throw new Error(`tmux is needed to test kelpie ctl top in a terminal: ${missing}`);
    const command = [process.execPath, bin, 'ctl', '--control-socket', socket, 'top'].map(quote).join(' ');
    tmux(
      'new-session',
      '-d',
      '-s',
      'top',
      '-x',
      String(width),
      '-y',
      String(height),
      `${command}; echo "top exited with $?"; sleep 600`,
    );
    await waitUntil(() => screen().includes('q quit'), { what: 'the first frame of top' });
    return screen();
  };
  afterEach(() => {
    spawnSync(findCommand('tmux') ?? 'tmux', ['-L', tmuxName, 'kill-server'], { stdio: 'ignore' });
  });

  it('draws the server and its workers, refreshes, and q restores the terminal', async () => {
    const { kp, socket } = await server(2);
    const pids = await readyWorkers(socket, 2, '2 workers');
    const frame = await startTop(socket, 120, 30);
    expect(frame).toMatch(
      new RegExp(`^kelpie \\S+  pid ${kp.pid}  running  up \\d+s  async  \\S+ +\\d\\d:\\d\\d:\\d\\d$`, 'm'),
    );
    expect(frame).toMatch(/^workers 2\/2 {2}listening http:\/\/127\.0\.0\.1:\d+$/m);
    expect(frame).toMatch(
      /^ *PID {2}AGE {2}STATE {2}UPTIME {2}REQ\/S {2}REQUESTS {2}IN FLIGHT {2}RSS MB {2}LAG MS {2}HEARTBEAT *$/m,
    );
    for (const pid of pids) expect(frame).toMatch(new RegExp(`^ *${pid} +\\d+  ready `, 'm'));
    expect(terminal()).toBe('1 0');

    // Redrawn in place: the totals follow the requests, and nothing scrolls.
    for (let i = 0; i < 5; i++) await get(kp.url);
    await waitUntil(() => /requests 5 {2}RSS/.test(screen()), { what: 'top to show 5 requests', timeoutMs: 5_000 });
    const lines = screen().split('\n');
    expect(lines[0]).toMatch(/^kelpie /);
    expect(lines.filter((line) => line.includes('PID  AGE'))).toHaveLength(1);

    tmux('send-keys', '-t', 'top', 'q');
    await waitUntil(() => screen().includes('top exited with 0'), { what: 'top to exit', timeoutMs: 5_000 });
    // Back on the normal screen, cursor shown, only the last line left there.
    expect(terminal()).toBe('0 1');
    const after = screen();
    expect(after).toContain('kelpie ctl top: quit');
    expect(after).not.toContain('PID');
  });

  it('fits a narrow terminal and exits 1 when the server goes away', async () => {
    const { kp, socket } = await server(2);
    const pids = await readyWorkers(socket, 2, '2 workers');
    const frame = await startTop(socket, 50, 12);
    for (const line of frame.split('\n')) expect(line.length).toBeLessThanOrEqual(50);
    // The least useful columns go first; pid, state, req/s and the counts stay.
    expect(frame).toMatch(/^ *PID {2}STATE {2}REQ\/S {2}REQUESTS {2}IN FLIGHT {2}RSS MB *$/m);
    for (const pid of pids) expect(frame).toMatch(new RegExp(`^ *${pid}  ready `, 'm'));
    expect(frame).toMatch(/…$/m);

    await kp.stop();
    await waitUntil(() => screen().includes('top exited with 1'), { what: 'top to exit', timeoutMs: 5_000 });
    expect(screen()).toContain('kelpie ctl: top: the server went away: the server closed the connection');
    expect(terminal()).toBe('0 1');
  });
});
