import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { defaultBin, freePort, waitUntil } from '@kelpie/testkit';
import { ensureCommand, findCommand } from '@kelpie/testkit/apt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

const DEPLOY = new URL('../../../deploy/', import.meta.url);

// kelpie as PID 1 of a new pid namespace (`unshare --pid --fork --mount-proc`, what a container
// runtime does without --init): it runs itself under tini, so orphans are reaped, signals reach
// the arbiter and TERM drains.

let children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  children = [];
});

beforeAll(async () => {
  for (const [command, pkg] of [
    ['unshare', 'util-linux'],
    ['tini', 'tini'],
    ['systemd-socket-activate', 'systemd'],
  ] as const) {
    const missing = await ensureCommand(command, pkg);
    if (missing) throw new Error(missing);
  }
}, 300_000);

/** The pid, in this (the host's) namespace, of the first child of `pid`. */
function firstChild(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
    return children[0] ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

describe('kelpie as PID 1', () => {
  it('runs under tini: orphans are reaped, signals reach the arbiter, TERM drains and exits 0', async () => {
    const child = spawn(
      findCommand('unshare') as string,
      [
        '--pid',
        '--fork',
        '--kill-child',
        '--mount-proc',
        process.execPath,
        defaultBin(),
        '-w',
        '2',
        '-b',
        '127.0.0.1:0',
        fixture('init-app.mjs'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KELPIE_CMD_ARGS: '', NODE_PATH: '' } },
    );
    children.push(child);
    let log = '';
    let out = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitUntil(() => /Ready: 2 workers serving/.test(log), { what: `kelpie to serve; log:\n${log}` });
    expect(log).toMatch(/Running as PID 1: starting kelpie under \S*tini -s/);
    const url = `http://${/Listening at: http:\/\/(\S+)/.exec(log)?.[1]}`;

    // An orphan (a shell's background job) ends up under tini, which reaps it: it never stays a zombie.
    const orphan = (await get(`${url}/orphan`)).body;
    expect(orphan).toMatch(/^\d+$/);
    const states: string[] = [];
    await waitUntil(
      async () => {
        const state = (await get(`${url}/state?pid=${orphan}`)).body;
        states.push(state);
        return state === 'gone';
      },
      { timeoutMs: 5000, what: `the orphan ${orphan} to be reaped (states seen: ${states.join(' ')})` },
    );

    // Signals sent to PID 1 reach the arbiter: TTIN adds a worker.
    const init = firstChild(child.pid as number) as number;
    expect(init).toBeGreaterThan(0);
    process.kill(init, 'SIGTTIN');
    await waitUntil(() => /Number of workers changed from 2 to 3/.test(log), { what: 'TTIN to reach the arbiter' });

    // TERM with a request in flight: it finishes, then everything exits 0.
    const slow = get(`${url}/slow`);
    await waitUntil(() => out.includes('init-app: slow request started'), { what: 'the slow request to start' });
    process.kill(init, 'SIGTERM');
    expect((await slow).body).toBe('slow done');
    expect(await exited).toBe(0);
    expect(log).toMatch(/Shutting down: Master/);
  });
});

/** A setting of a systemd unit file (the last one, as systemd reads them). */
function unitSetting(file: string, key: string): string {
  const text = readFileSync(new URL(`systemd/${file}`, DEPLOY), 'utf8');
  const values = [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => (m[1] as string).trim());
  if (!values.length) throw new Error(`deploy/systemd/${file} has no ${key}=`);
  return values.at(-1) as string;
}

describe('deploy/systemd: socket activation as systemd does it', () => {
  it("kelpie.socket's address and kelpie.service's ExecStart under systemd-socket-activate: served on the inherited socket", async () => {
    const listen = unitSetting('kelpie.socket', 'ListenStream');
    expect(listen).toMatch(/^127\.0\.0\.1:\d+$/);
    // ExecStart as shipped, with the kelpie install and the app of this test.
    const [command, ...args] = unitSetting('kelpie.service', 'ExecStart').split(/\s+/);
    expect(command).toMatch(/\/node_modules\/\.bin\/kelpie$/);
    expect(args.at(-1)).toBe('app.js');
    const port = await freePort();
    const child = spawn(
      findCommand('systemd-socket-activate') as string,
      ['-l', `127.0.0.1:${port}`, process.execPath, defaultBin(), ...args.slice(0, -1), fixture('pid-app.js')],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KELPIE_CMD_ARGS: '', NODE_PATH: '' } },
    );
    children.push(child);
    let log = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitUntil(() => log.includes(`Listening on 127.0.0.1:${port}`), { what: 'the socket' });
    // The first connection starts the service; it waits in the socket's queue meanwhile.
    const first = await get(`http://127.0.0.1:${port}/`);
    expect(first.status).toBe(200);
    expect(Number(first.body)).not.toBe(child.pid);
    expect(log).toMatch(/Using 1 socket\(s\) from systemd \(LISTEN_FDS\); --bind is not used/);
    await waitUntil(() => /Ready: \d+ workers serving/.test(log), { what: 'every worker' });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
