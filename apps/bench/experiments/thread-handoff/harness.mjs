// The processes run.mjs starts: the launcher (with the worker process below it, both run by the
// node binary under test), wrk and node-info.mjs. Each is registered while it runs, so
// stopAll() can stop everything on Ctrl-C or on an error. The launcher gets its own process
// group, so stopping it can kill the whole tree; and should run.mjs die without cleaning up,
// the worker process sees its stdin close and stops by itself.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const READY_TIMEOUT_MS = 10_000;
const REPLY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const KILL_WAIT_MS = 5_000;
const POLL_MS = 20;

/** Stop functions of everything running. */
const running = new Set();

export async function stopAll() {
  await Promise.allSettled([...running].map((stop) => stop()));
}

export function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A loopback port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function describeExit(code, signal) {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** Runs a command to its end, at most `ms`; resolves with its stdout. */
async function runToEnd(command, args, ms) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: ms, killSignal: 'SIGKILL' });
  const closed = once(child, 'close');
  const stop = () => {
    child.kill('SIGKILL');
    return closed.catch(() => {});
  };
  running.add(stop);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  try {
    const [code, signal] = await closed;
    if (code !== 0) throw new Error(`${command} ${describeExit(code, signal)}: ${stderr.trim()}`);
    return stdout;
  } finally {
    running.delete(stop);
  }
}

/** { version, reusePort } of a node binary. */
export async function nodeInfo(node) {
  return JSON.parse(await runToEnd(node, [fileURLToPath(new URL('node-info.mjs', import.meta.url))], 10_000));
}

/** One wrk run, bounded by `seconds`: requests/s and wrk's error lines, if any. */
export async function runWrk(port, seconds) {
  const url = `http://127.0.0.1:${port}/`;
  const output = await runToEnd('wrk', ['-t2', '-c32', `-d${seconds}s`, url], (seconds + 10) * 1000);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
  if (!Number.isFinite(rps)) throw new Error(`no Requests/sec in wrk's output:\n${output}`);
  const errors = output
    .split('\n')
    .filter((line) => /Socket errors|Non-2xx/.test(line))
    .map((line) => line.trim());
  return { rps, errors };
}

/** Signals every process in the group led by `pid`; false once the group is empty. */
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    if (error.code === 'ESRCH') return false;
    throw error;
  }
}

async function exitedWithin(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  const timeout = new AbortController();
  const exited = once(child, 'exit').then(
    () => true,
    () => false,
  );
  const late = delay(ms, false, { signal: timeout.signal }).catch(() => false);
  const result = await Promise.race([exited, late]);
  timeout.abort();
  return result;
}

async function groupGoneWithin(pid, ms) {
  const deadline = Date.now() + ms;
  while (signalGroup(pid, 0)) {
    if (Date.now() > deadline) return false;
    await delay(POLL_MS);
  }
  return true;
}

/**
 * Starts launcher.mjs with `node` and resolves once the worker process prints READY. The
 * result has command(name, replyPrefix), which sends a command and resolves with the rest of
 * the reply line, and stop(), which resolves with the per-thread request counts (null if the
 * server did not report them) once every process of the server is gone.
 */
export async function startServer({ node, option, threads, handler, port }) {
  const launcher = fileURLToPath(new URL('launcher.mjs', import.meta.url));
  const child = spawn(node, [launcher, option, String(threads), handler, String(port)], {
    detached: true,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  // A failed spawn or an EPIPE on a dead server's stdin: nextLine() reports the exit instead.
  child.on('error', () => {});
  child.stdin.on('error', () => {});

  function nextLine(prefix, ms) {
    return new Promise((resolve, reject) => {
      function settle(error, value) {
        clearTimeout(timer);
        lines.off('line', onLine);
        child.off('exit', onExit);
        child.off('error', settle);
        if (error) reject(error);
        else resolve(value);
      }
      function onLine(line) {
        if (line.startsWith(prefix)) settle(null, line.slice(prefix.length).trim());
      }
      function onExit(code, signal) {
        settle(new Error(`the ${option} server ${describeExit(code, signal)} before printing ${prefix}`));
      }
      const timer = setTimeout(() => settle(new Error(`no ${prefix} from the ${option} server within ${ms} ms`)), ms);
      if (child.exitCode !== null || child.signalCode !== null) return onExit(child.exitCode, child.signalCode);
      lines.on('line', onLine);
      child.once('exit', onExit);
      child.once('error', settle);
    });
  }

  async function shutdown() {
    if (child.pid === undefined) return null;
    const counts = nextLine('COUNTS', REPLY_TIMEOUT_MS).then(JSON.parse, () => null);
    child.stdin.end();
    const result = await counts;
    if (!(await exitedWithin(child, STOP_GRACE_MS))) signalGroup(child.pid, 'SIGKILL');
    await exitedWithin(child, KILL_WAIT_MS);
    // Whatever is left in the group, such as a worker process whose launcher was killed.
    signalGroup(child.pid, 'SIGKILL');
    if (!(await groupGoneWithin(child.pid, KILL_WAIT_MS)))
      throw new Error(`process group ${child.pid} survived SIGKILL`);
    return result;
  }
  let stopping;
  const stop = () => {
    stopping ??= shutdown().finally(() => running.delete(stop));
    return stopping;
  };
  running.add(stop);

  try {
    await nextLine('READY', READY_TIMEOUT_MS);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    async command(name, replyPrefix) {
      const answer = nextLine(replyPrefix, REPLY_TIMEOUT_MS);
      child.stdin.write(`${name}\n`);
      return answer;
    },
    stop,
  };
}
