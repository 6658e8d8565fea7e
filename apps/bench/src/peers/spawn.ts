/**
 * Starting a server process, stopping it with everything it started, and the RunningServer the
 * peers hand back. Each peer file only says what to run and when it counts as ready.
 */
import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { RunningServer, Scenario } from '../types.js';
import { isRunning, type ProcessEntry, processTree, processTreeEntries } from './process-tree.js';
import { waitUntilServing } from './readiness.js';

// The harness polls its own baseline process the same way the peers are polled.
export { waitForHttp } from './readiness.js';

/** How long a server gets to stop after SIGTERM before it and its children are killed. */
const STOP_GRACE_MS = 5_000;
/** How long SIGKILLed processes get to disappear before stop() gives up. */
const KILL_WAIT_MS = 5_000;
const STOP_POLL_MS = 50;
/** Output kept for failure messages; the pipes are drained all along so a chatty server never blocks. */
const OUTPUT_LIMIT = 64 * 1024;

export interface ServerProcess {
  readonly pid: number;
  /** What it printed, stdout and stderr interleaved (the last 64 KiB). */
  output(): string;
  /** How it ended (`exited with code 1`), or undefined while it runs. */
  exitReason(): string | undefined;
  /** Settles once it has exited and been reaped, so its pid is free. */
  readonly exited: Promise<void>;
}

/** Sends a signal, ignoring a process that is already gone. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Spawns `command` with the bench's environment on top of ours; resolves once it is running. */
export async function spawnServer(
  command: string,
  args: string[],
  options: { env: Record<string, string>; cwd?: string },
): Promise<ServerProcess> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let ended: string | undefined;
  const append = (chunk: Buffer): void => {
    text += chunk.toString();
    if (text.length > OUTPUT_LIMIT) text = text.slice(-OUTPUT_LIMIT);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, killedBy) => {
      ended = killedBy ? `was killed by ${killedBy}` : `exited with code ${code}`;
      resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) => reject(new Error(`Cannot run ${command}: ${error.message}`, { cause: error })));
  });
  // Later errors (a failed kill) must not crash the harness; exit is reported through exitReason.
  child.on('error', () => {});
  return { pid: child.pid!, output: () => text, exitReason: () => ended, exited };
}

async function waitGone(tree: ProcessEntry[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    // Anything forked meanwhile (a worker respawned during shutdown) joins the set to wait for.
    const live = tree.filter(isRunning);
    for (const entry of processTreeEntries(live.map((e) => e.pid))) {
      if (!tree.some((known) => known.pid === entry.pid && known.startTime === entry.startTime)) tree.push(entry);
    }
    if (!tree.some(isRunning)) return true;
    if (Date.now() > deadline) return false;
    await delay(STOP_POLL_MS);
  }
}

/**
 * Stops `pid` and every process below it: `request` asks it to stop (SIGTERM unless given), then
 * after 5 s whatever is left of the tree is SIGKILLed. The tree is read before asking, because
 * children re-parent away from a parent that exits first. Resolves once every one is gone.
 */
export async function stopTree(pid: number, request?: () => unknown): Promise<void> {
  const tree = processTreeEntries([pid]);
  if (request) await request();
  // Only a process still in the tree is signalled: a pid already reaped may belong to another.
  else if (tree.length) signal(pid, 'SIGTERM');
  if (await waitGone(tree, STOP_GRACE_MS)) return;
  for (const entry of tree.filter(isRunning)) signal(entry.pid, 'SIGKILL');
  if (await waitGone(tree, KILL_WAIT_MS)) return;
  const left = tree.filter(isRunning).map((entry) => entry.pid);
  throw new Error(`Processes still running after SIGKILL: ${left.join(', ')}`);
}

/** A RunningServer over a process tree; stop() runs once however often it is called. */
export function runningServer(pid: number, stop: () => Promise<void>): RunningServer {
  let stopping: Promise<void> | undefined;
  return {
    pid,
    pids: () => processTree(pid),
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

/** Waits for `server` to serve; if it does not, stops it before rethrowing, so a failed start leaves nothing. */
export async function whenServing(server: RunningServer, wait: () => Promise<void>): Promise<RunningServer> {
  try {
    await wait();
    return server;
  } catch (error) {
    await server.stop().catch(() => {});
    throw error;
  }
}

export interface ServerSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  port: number;
  scenario: Scenario;
  /** Extra readiness condition on top of HTTP 200 (see WaitOptions.until). */
  until?: (server: ServerProcess) => boolean;
  /** Runs after the processes are gone (remove a temp dir). */
  cleanup?: () => Promise<void>;
}

/** The common case: spawn one top process, wait until it serves, stop it with SIGTERM. */
export async function startServer(spec: ServerSpec): Promise<RunningServer> {
  let child: ServerProcess;
  try {
    child = await spawnServer(spec.command, spec.args, { env: spec.env, cwd: spec.cwd });
  } catch (error) {
    await spec.cleanup?.();
    throw error;
  }
  const server = runningServer(child.pid, async () => {
    try {
      await stopTree(child.pid);
      // stopTree counts a zombie as gone; wait for Node to reap it too, so no trace is left.
      await child.exited;
    } finally {
      await spec.cleanup?.();
    }
  });
  server.output = child.output;
  const until = spec.until;
  return whenServing(server, () =>
    waitUntilServing(spec.port, spec.scenario, {
      name: spec.name,
      until: until && (() => until(child)),
      failed: child.exitReason,
      output: child.output,
    }),
  );
}
