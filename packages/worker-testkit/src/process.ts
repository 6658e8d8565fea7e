import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Starts real kelpie processes for tests: on a free port (the arbiter binds port 0 and logs the
 * port it got), waits until every worker serves, and cleans up. Every wait is bounded and
 * driven by the process's own log lines, never by sleeps.
 */

export interface StartOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Path of the kelpie bin script; default: the `kelpie` package resolvable from cwd. */
  bin?: string;
  /** Wait for: every worker serving ('ready', default), the listeners ('listening') or nothing. */
  waitFor?: 'ready' | 'listening' | 'nothing';
  /** Give up waiting after this long. */
  timeoutMs?: number;
  /** Extra node flags for the arbiter. */
  nodeArgs?: string[];
  /** Add `-b 127.0.0.1:0` when args name no bind (default true). */
  autoBind?: boolean;
  /**
   * Start under this descriptor limit (`ulimit -n`, RLIMIT_NOFILE) through `/bin/sh`, which then
   * execs node: the pid stays kelpie's. POSIX only.
   */
  maxOpenFiles?: number;
}

export interface KelpieProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The first TCP listener's base URL (`http://127.0.0.1:40123`), when there is one. */
  readonly url: string;
  /** Every "Listening at" address, in order. */
  readonly addresses: string[];
  /** Everything the process wrote to stderr so far (its log). */
  log(): string;
  stdout(): string;
  /** Resolve with the first match of a pattern in the log, now or later. */
  waitForLog(pattern: RegExp, options?: { timeoutMs?: number; from?: number }): Promise<RegExpMatchArray>;
  /** Count the matches of a pattern in the log. */
  countLog(pattern: RegExp): number;
  /** Resolve when the process exits. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  signal(signal: NodeJS.Signals): void;
  /** TERM, then KILL if it is still there after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<KelpieProcess>();

/** The `kelpie` command installed where `cwd` is (the project under test must have `kelpie` installed). */
export function defaultBin(cwd = process.cwd()): string {
  let manifest: string;
  try {
    manifest = createRequire(join(cwd, 'noop.js')).resolve('kelpie/package.json');
  } catch {
    throw new Error(`The kelpie package is not installed in ${cwd}; install it with: npm install --save-dev kelpie`);
  }
  return join(dirname(manifest), 'bin', 'kelpie.js');
}

function hasBind(args: readonly string[]): boolean {
  return args.some((a) => a === '-b' || a === '--bind' || a.startsWith('--bind=') || /^-b./.test(a));
}

/** Start `kelpie ...args`; binds 127.0.0.1:0 unless args name a bind. */
export async function startKelpie(args: readonly string[], options: StartOptions = {}): Promise<KelpieProcess> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const fullArgs = hasBind(args) || options.autoBind === false ? [...args] : ['-b', '127.0.0.1:0', ...args];
  // Each server its own default control socket folder: servers started side by side by tests
  // would otherwise share $XDG_RUNTIME_DIR/kelpie.ctl (the first one would get it).
  const runtimeDir = mkdtempSync(join(tmpdir(), 'kelpie-run-'));
  const command = [process.execPath, ...(options.nodeArgs ?? []), options.bin ?? defaultBin(options.cwd), ...fullArgs];
  if (options.maxOpenFiles !== undefined) {
    command.unshift('/bin/sh', '-c', `ulimit -n ${Math.floor(options.maxOpenFiles)} && exec "$0" "$@"`);
  }
  const child = spawn(command[0] as string, command.slice(1), {
    cwd: options.cwd ?? process.cwd(),
    // As a user's shell would start it: no KELPIE_CMD_ARGS, and no NODE_PATH, which package
    // managers' script shims set and which would let kelpie find packages the project lacks.
    env: { ...process.env, KELPIE_CMD_ARGS: '', NODE_PATH: '', XDG_RUNTIME_DIR: runtimeDir, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (process.env.KELPIE_TEST_ECHO) process.stderr.write(chunk);
    wake();
  });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    wake();
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => {
    exitInfo = { code, signal };
    rmSync(runtimeDir, { recursive: true, force: true });
    wake();
  });

  const waitForLog = (pattern: RegExp, opts: { timeoutMs?: number; from?: number } = {}) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const limit = opts.timeoutMs ?? timeoutMs;
      const check = () => {
        const match = stderr.slice(opts.from ?? 0).match(pattern);
        if (match) {
          done();
          resolve(match);
        } else if (exitInfo) {
          done();
          reject(new Error(`kelpie exited (${JSON.stringify(exitInfo)}) before logging ${pattern}. Log:\n${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Timed out after ${limit} ms waiting for ${pattern}. Log:\n${stderr}`));
      }, limit);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const exited = (limit = timeoutMs) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      if (exitInfo) return resolve(exitInfo);
      const timer = setTimeout(
        () => reject(new Error(`kelpie did not exit within ${limit} ms. Log:\n${stderr}`)),
        limit,
      );
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });

  const addresses: string[] = [];
  const kp: KelpieProcess = {
    child,
    pid: child.pid as number,
    get url() {
      const http = addresses.find((a) => a.startsWith('http://') || a.startsWith('https://'));
      if (!http) throw new Error(`no http listener; addresses: ${addresses.join(', ')}`);
      return http;
    },
    addresses,
    log: () => stderr,
    stdout: () => stdout,
    waitForLog,
    countLog: (pattern) =>
      (stderr.match(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`)) ?? []).length,
    exited,
    signal: (sig) => {
      if (!exitInfo) child.kill(sig);
    },
    stop: async (limit = 15_000) => {
      if (exitInfo) return exitInfo;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), limit);
      const result = await exited(limit + 5_000);
      clearTimeout(timer);
      return result;
    },
  };
  running.add(kp);
  child.once('exit', () => running.delete(kp));

  if (options.waitFor !== 'nothing') {
    try {
      await waitForLog(/Using worker:/);
      for (const match of stderr.matchAll(/Listening at: (\S+)/g)) addresses.push(match[1] as string);
      if (options.waitFor !== 'listening') await waitForLog(/\[INFO\] Ready: \d+ workers? serving/);
    } catch (error) {
      await kp.stop(2_000).catch(() => {});
      throw error;
    }
  }
  return kp;
}

/** Stop every kelpie process still running (use in afterEach/afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((kp) => kp.stop(5_000).catch(() => kp.signal('SIGKILL'))));
}

process.once('exit', () => {
  for (const kp of running) kp.signal('SIGKILL');
});

/** Whether a process with this pid exists (signal 0 only checks; EPERM: it exists, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolve when `predicate` holds, polling every `intervalMs`; reject after `timeoutMs`. */
export async function waitUntil<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 15_000, intervalMs = 50, what = 'condition' } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
