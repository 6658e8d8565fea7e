import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { get, type KelpieProcess, startKelpie, waitUntil } from '@kelpie/testkit';
import { ensureCommand, findCommand } from '@kelpie/testkit/apt';
import { fixtureDir } from './fixtures.js';

const run = promisify(execFile);

/** The workspace's kelpie command (its built dist/). */
export const KELPIE_BIN = fileURLToPath(new URL('../node_modules/kelpie/bin/kelpie.js', import.meta.url));

export interface Served {
  kp: KelpieProcess;
  /** The file the fixture app writes its events to (slow-start, slow-end, shutdown ...). */
  events: string;
  cleanup(): void;
}

/**
 * `kelpie -w 2 -b 127.0.0.1:0 ...args entry` in the fixture's folder, the entry unchanged, as a
 * user would type it. NODE_ENV is left unset (vitest sets it to "test") so that what kelpie does
 * with it is what a user gets.
 */
export async function serve(
  fixture: string,
  entry: string,
  args: string[] = [],
  env: Record<string, string | undefined> = {},
): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'kelpie-frameworks-'));
  const events = join(dir, 'events.log');
  const kp = await startKelpie(['-w', '2', '-b', '127.0.0.1:0', ...args, entry], {
    cwd: fixtureDir(fixture),
    bin: KELPIE_BIN,
    autoBind: false,
    timeoutMs: 90_000,
    env: { SHUTDOWN_LOG: events, NODE_ENV: undefined, NEXT_TELEMETRY_DISABLED: '1', ...env },
  });
  return { kp, events, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The app's event lines, `<pid> <event...>`, in the order they were written. */
export function readEvents(file: string): { pid: number; event: string }[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, ...rest] = line.split(' ');
      return { pid: Number(pid), event: rest.join(' ') };
    });
}

/** The pids of the workers booted so far, from the arbiter's log. */
export function bootedWorkers(kp: KelpieProcess, from = 0): number[] {
  return [
    ...kp
      .log()
      .slice(from)
      .matchAll(/Booting worker with pid: (\d+)/g),
  ].map((m) => Number(m[1]));
}

/**
 * GET /pid on fresh connections, a few at a time, until `count` different pids answered (at most
 * `maxRequests` requests): the pids of the workers that served.
 */
export async function servingPids(url: string, count = 2, maxRequests = 400): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let sent = 0; sent < maxRequests && pids.size < count; sent += 8) {
    const replies = await Promise.all(Array.from({ length: 8 }, () => get(`${url}/pid`)));
    for (const reply of replies) {
      if (reply.status !== 200) throw new Error(`GET /pid: HTTP ${reply.status} ${reply.body}`);
      pids.add((JSON.parse(reply.body) as { pid: number }).pid);
    }
  }
  return pids;
}

/** The pid and every descendant of it, from /proc (Linux). */
export function processTree(root: number): Set<number> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const tree = new Set<number>();
  const visit = (pid: number) => {
    tree.add(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return tree;
}

export interface Listener {
  /** tcp, u_str, ... */
  netid: string;
  /** `127.0.0.1:40123`, `[::1]:3000`, a unix socket's path. */
  local: string;
  pids: number[];
}

/** Every listening TCP and unix socket held by one of `pids` (`ss -ltnxpH`). */
export async function listenersOf(pids: Set<number>): Promise<Listener[]> {
  const missing = await ensureCommand('ss', 'iproute2');
  if (missing) throw new Error(`ss is needed to list listening sockets: ${missing}`);
  const { stdout } = await run(findCommand('ss') as string, ['-ltnxpH']);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.trim().split(/\s+/);
      const owners = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
      return { netid: fields[0] as string, local: fields[4] as string, pids: owners };
    })
    .filter((listener) => listener.pids.some((pid) => pids.has(pid)));
}

/** Wait until the app wrote `event` (bounded). */
export function waitForEvent(file: string, event: string, timeoutMs = 30_000): Promise<{ pid: number; event: string }> {
  return waitUntil(() => readEvents(file).find((e) => e.event === event), { timeoutMs, what: `"${event}" in ${file}` });
}
