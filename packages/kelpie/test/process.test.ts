import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { defaultBin, processAlive, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { get } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kelpie-process-'));
// Readable by the unprivileged user the --user test runs workers as.
chmodSync(dir, 0o755);
const app = join(dir, 'app.mjs');
writeFileSync(
  app,
  [
    "console.log('app says hello on stdout');",
    'export default (req, res) => res.end(JSON.stringify({ pid: process.pid, uid: process.getuid(), gid: process.getgid() }));',
    '',
  ].join('\n'),
);
chmodSync(app, 0o644);
const strays: number[] = [];

afterEach(async () => {
  for (const pid of strays.splice(0)) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  await stopAll();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();

describe('process settings', () => {
  it('-p writes the arbiter pid, removes it at exit, and refuses a file naming a live process', async () => {
    const pidfile = join(dir, 'a.pid');
    const kp = await startKelpie(['-p', pidfile, app]);
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(kp.pid));
    const second = await startKelpie(['-p', pidfile, app], { waitFor: 'nothing' });
    expect(await second.exited()).toEqual({ code: 1, signal: null });
    expect(second.log()).toMatch(new RegExp(`Already running on PID ${kp.pid} \\(or pid file .*a\\.pid is stale\\)`));
    expect(second.log()).not.toMatch(/Listening at/);
    await kp.stop();
    expect(existsSync(pidfile)).toBe(false);
  });

  it('-p takes over a stale pid file', async () => {
    const pidfile = join(dir, 'stale.pid');
    writeFileSync(pidfile, '4194000\n');
    const kp = await startKelpie(['-p', pidfile, app]);
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(kp.pid));
  });

  it('-D detaches: the command returns 0 once bound, the daemon serves in its own session until TERM', async () => {
    const pidfile = join(dir, 'daemon.pid');
    const command = await startKelpie(['-D', '-p', pidfile, '-w', '1', app], { waitFor: 'nothing' });
    expect(await command.exited()).toEqual({ code: 0, signal: null });
    const url = command.log().match(/Listening at: (http:\S+)/)?.[1] as string;
    const pid = Number(readFileSync(pidfile, 'utf8'));
    strays.push(pid);
    expect(pid).not.toBe(command.pid);
    // Its own session: the session id (field 6 of /proc/PID/stat) is its pid.
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[3]).toBe(String(pid));
    const reply = await waitUntil(() => get(url).catch(() => undefined), { what: 'the daemon to answer' });
    expect(reply.status).toBe(200);
    process.kill(pid, 'SIGTERM');
    await waitUntil(() => !processAlive(pid), { what: 'the daemon to exit' });
    expect(existsSync(pidfile)).toBe(false);
  });

  // Runs as root only, and only where the unprivileged user can run this node binary.
  it.skipIf(process.getuid?.() !== 0 || !reachableByOthers(process.execPath))(
    '-u nobody -g nogroup: the arbiter binds a privileged port as root, the workers serve as nobody',
    async () => {
      const port = await freePrivilegedPort();
      const kp = await startKelpie(['-u', 'nobody', '-g', 'nogroup', '-b', `127.0.0.1:${port}`, app]);
      const facts = JSON.parse((await get(`http://127.0.0.1:${port}/`)).body) as { uid: number; gid: number };
      expect(facts).toMatchObject({ uid: 65534, gid: 65534 });
      expect(readFileSync(`/proc/${kp.pid}/status`, 'utf8')).toMatch(/^Uid:\s+0\s/m);
    },
  );

  it('--user names a user that does not exist: exit 2 naming it', async () => {
    const kp = await startKelpie(['-u', 'no-such-user-here', app], { waitFor: 'nothing' });
    expect(await kp.exited()).toEqual({ code: 2, signal: null });
    expect(kp.log()).toMatch(/Invalid value for --user: "no-such-user-here"/);
  });

  it('-m sets the umask: a unix socket is created with the mode it allows', async () => {
    const open = join(dir, 'open.sock');
    const tight = join(dir, 'tight.sock');
    await startKelpie(['-m', '022', '-b', `unix:${open}`, app]);
    await startKelpie(['-m', '0o077', '-b', `unix:${tight}`, app]);
    expect(statSync(open).mode & 0o777).toBe(0o755);
    expect(statSync(tight).mode & 0o777).toBe(0o700);
  });

  it('--capture-output sends what workers print on stdout to the error log', async () => {
    const plain = await startKelpie(['-w', '1', app]);
    await waitUntil(() => plain.stdout().includes('app says hello on stdout'), { what: 'stdout' });
    expect(plain.log()).not.toMatch(/app says hello/);
    const captured = await startKelpie(['-w', '1', '--capture-output', app]);
    await captured.waitForLog(/app says hello on stdout/);
    expect(captured.stdout()).toBe('');
  });

  it('-n names the processes: kelpie: master [NAME] and kelpie: worker [NAME]', async () => {
    const kp = await startKelpie(['-n', 'shop-api', '-w', '1', app]);
    const worker = Number(kp.log().match(/Booting worker with pid: (\d+)/)?.[1]);
    expect(cmdline(kp.pid)).toMatch(/^kelpie: master \[shop-api\]/);
    expect(cmdline(worker)).toMatch(/^kelpie: worker \[shop-api\]/);
  });

  it('--reload: changing a file of the app reloads the workers with the new code', async () => {
    const appDir = mkdtempSync(join(dir, 'reload-'));
    const file = join(appDir, 'app.mjs');
    writeFileSync(file, "export default (req, res) => res.end('before');\n");
    const kp = await startKelpie(['--reload', '-w', '1', file]);
    expect((await get(kp.url)).body).toBe('before');
    writeFileSync(file, "export default (req, res) => res.end('after');\n");
    await kp.waitForLog(/Worker reloading: .*app\.mjs modified/);
    await waitUntil(async () => (await get(kp.url)).body === 'after', { what: 'the new code to answer' });
  });

  it('--reload-extra-file: a change to a file outside the app directory (a dot-file) reloads too', async () => {
    const appDir = mkdtempSync(join(dir, 'extra-'));
    const file = join(appDir, 'app.mjs');
    const extra = join(dir, '.env.extra');
    writeFileSync(extra, 'A=1\n');
    writeFileSync(file, "export default (req, res) => res.end('ok');\n");
    const kp = await startKelpie(['--reload', '--reload-extra-file', extra, '-w', '1', file]);
    const before = kp.countLog(/Booting worker/);
    writeFileSync(extra, 'A=2\n');
    await kp.waitForLog(/Worker reloading: .*\.env\.extra modified/);
    await waitUntil(() => kp.countLog(/Booting worker/) > before, { what: 'a new worker' });
  });

  it('USR2 with a unix socket: the file stays through the handover and goes when the last arbiter exits', async () => {
    const sock = join(dir, 'upgrade.sock');
    const kp = await startKelpie(['-w', '1', '-b', `unix:${sock}`, app]);
    kp.signal('SIGUSR2');
    const next = Number((await kp.waitForLog(/Started a new arbiter \(pid: (\d+)\)/))[1]);
    strays.push(next);
    await kp.waitForLog(new RegExp(`\\[${next}\\] \\[INFO\\] Ready: 1 worker serving`));
    kp.signal('SIGTERM');
    await kp.exited();
    expect(existsSync(sock)).toBe(true);
    const reply = await get('http://localhost/', { socketPath: sock });
    expect(JSON.parse(reply.body).pid).not.toBe(kp.pid);
    process.kill(next, 'SIGTERM');
    await waitUntil(() => !processAlive(next), { what: 'the new arbiter to exit' });
    expect(existsSync(sock)).toBe(false);
  });

  it('LISTEN_FDS and LISTEN_PID (systemd socket activation): serves on the inherited socket, --bind unused', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    // As systemd does: the socket is descriptor 3 and LISTEN_PID is the pid that runs kelpie.
    const child = spawn(
      'sh',
      ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', process.execPath, defaultBin(), '-w', '2', app],
      { stdio: ['ignore', 'pipe', 'pipe', fd], env: { ...process.env, KELPIE_CMD_ARGS: '', NODE_PATH: '' } },
    );
    strays.push(child.pid as number);
    // This process keeps no copy: only kelpie accepts on the socket.
    server.close();
    let log = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
    });
    await waitUntil(() => /Ready: 2 workers serving/.test(log), { what: 'kelpie to serve' });
    expect(log).toMatch(/Using 1 socket\(s\) from systemd \(LISTEN_FDS\); --bind is not used/);
    expect(log).toMatch(new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} `));
    const reply = await get(`http://127.0.0.1:${port}/`);
    expect(JSON.parse(reply.body).pid).not.toBe(process.pid);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  });
});

/** True when every folder up to `file` and `file` itself can be entered and run by other users. */
function reachableByOthers(file: string): boolean {
  for (let path = file; path !== dirname(path); path = dirname(path)) {
    if ((statSync(path).mode & 0o001) === 0) return false;
  }
  return true;
}

/** A free port below 1024 on 127.0.0.1 (only root may bind it). */
async function freePrivilegedPort(): Promise<number> {
  for (let port = 1023; port > 900; port--) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port between 901 and 1023');
}
