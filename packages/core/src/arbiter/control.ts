import { lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { MAX_WORKERS } from '../config/settings.js';
import type { Logger } from '../observability/logger.js';

/**
 * The control socket (`--control-socket`, like Gunicorn 25's and Puma's control app): the arbiter
 * listens on a unix socket of mode 0600 and answers `kelpie ctl`. The protocol is JSON lines: a
 * client writes one request object per line and reads one response per line, in order, on a
 * connection it may keep open (`kelpie ctl top` asks for the status once a second).
 *
 *   → {"id": 1, "command": "status"}
 *   ← {"id": 1, "ok": true, "result": {...ServerStatus}}
 *   → {"command": "workers.add", "count": 2}
 *   ← {"ok": false, "error": "..."}
 *
 * Only the socket's owner (and root) can connect: whoever can, can stop the server.
 */

/** No result but success. */
type Done = Record<string, never>;

/**
 * Every command, with the fields its request carries and the result it answers: the one list of
 * control commands. ControlRequest, CONTROL_COMMANDS, the server's handlers below and the
 * `kelpie ctl` client are derived from it or checked against it.
 */
export interface ControlCommands {
  status: { fields: unknown; result: ServerStatus };
  reload: { fields: unknown; result: Done };
  reopen: { fields: unknown; result: { errors: string[] } };
  shutdown: { fields: { quick?: boolean }; result: Done };
  'workers.add': { fields: { count: number }; result: { numWorkers: number } };
  'workers.remove': { fields: { count: number }; result: { numWorkers: number } };
  'worker.kill': { fields: { pid: number }; result: Done };
}

export type ControlCommand = keyof ControlCommands;

/** A request: `{ id?, command, ...fields }`, one member per command. */
export type ControlRequest = {
  [C in ControlCommand]: { id?: unknown; command: C } & ControlCommands[C]['fields'];
}[ControlCommand];

/** What a command answers on success (`result` of its response). */
export type ControlResult<C extends ControlCommand> = ControlCommands[C]['result'];

export type ControlResponse = { id?: unknown; ok: true; result: unknown } | { id?: unknown; ok: false; error: string };

/** One worker, as `status` reports it. */
export interface WorkerStatus {
  pid: number;
  /** Spawn counter (Gunicorn's worker age): lower is older. */
  age: number;
  state: 'booting' | 'ready' | 'retiring';
  /** When it was spawned, ms since the epoch. */
  startedAt: number;
  requests: number;
  inFlight: number;
  /** Bytes. */
  rss: number;
  /** Largest event-loop delay in the last heartbeat period, seconds. */
  lag: number;
  /** Seconds since its last heartbeat (or any message). */
  lastHeartbeat: number;
}

/** The answer to `status`. */
export interface ServerStatus {
  pid: number;
  version: string;
  appModule: string;
  workerClass: string;
  state: 'starting' | 'running' | 'stopping' | 'stopped';
  /** When the arbiter started, ms since the epoch. */
  startedAt: number;
  /** The target number of workers. */
  numWorkers: number;
  /** What clients connect to. */
  listeners: string[];
  workers: WorkerStatus[];
}

/** What the control server needs of the arbiter. Each method throws an Error whose message is the answer. */
export interface ControlTarget {
  status(): ServerStatus;
  reload(): void;
  reopenLogs(): string[];
  stop(graceful: boolean): void;
  /** The new target number of workers. */
  addWorkers(count: number): number;
  removeWorkers(count: number): number;
  killWorker(pid: number): void;
}

const MAX_LINE = 64 * 1024;

function positiveInteger(value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? 'of 1 or more' : `from 1 to ${max}`;
    throw new Error(`${what} must be a whole number ${range}, not ${JSON.stringify(value)}`);
  }
  return value;
}

/** What the server does for each command (a missing or extra command fails typecheck). */
const HANDLERS: {
  [C in ControlCommand]: (target: ControlTarget, request: Record<string, unknown>) => ControlResult<C>;
} = {
  status: (target) => target.status(),
  reload: (target) => {
    target.reload();
    return {};
  },
  reopen: (target) => ({ errors: target.reopenLogs() }),
  shutdown: (target, r) => {
    target.stop(r.quick !== true);
    return {};
  },
  'workers.add': (target, r) => ({ numWorkers: target.addWorkers(positiveInteger(r.count, 'count', MAX_WORKERS)) }),
  'workers.remove': (target, r) => ({
    numWorkers: target.removeWorkers(positiveInteger(r.count, 'count', MAX_WORKERS)),
  }),
  'worker.kill': (target, r) => {
    target.killWorker(positiveInteger(r.pid, 'pid'));
    return {};
  },
};

export const CONTROL_COMMANDS: readonly ControlCommand[] = Object.keys(HANDLERS) as ControlCommand[];

/** Carry out one request; the result, or an Error to report. */
export function runControlRequest(target: ControlTarget, request: unknown): unknown {
  if (
    typeof request !== 'object' ||
    request === null ||
    typeof (request as { command?: unknown }).command !== 'string'
  ) {
    throw new Error('a request is a JSON object with a "command"');
  }
  const r = request as Record<string, unknown>;
  const command = r.command as string;
  if (!Object.hasOwn(HANDLERS, command)) {
    throw new Error(`unknown command ${JSON.stringify(r.command)}; known: ${CONTROL_COMMANDS.join(', ')}`);
  }
  return HANDLERS[command as ControlCommand](target, r);
}

function serveConnection(socket: Socket, target: ControlTarget, log: Logger): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('error', () => {});
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    if (buffered.length > MAX_LINE && !buffered.includes('\n')) {
      buffered = '';
      socket.end(`${JSON.stringify({ ok: false, error: `request line longer than ${MAX_LINE} bytes` })}\n`);
      socket.destroySoon();
      socket.removeAllListeners('data');
      return;
    }
    let newline = buffered.indexOf('\n');
    while (newline !== -1) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
      if (!line) continue;
      let id: unknown;
      let response: ControlResponse;
      try {
        const request = JSON.parse(line) as unknown;
        id = (request as { id?: unknown } | null)?.id;
        const command = (request as { command?: unknown } | null)?.command;
        if (command !== 'status') log.info(`Control socket: ${String(command)}`);
        response = { ok: true, result: runControlRequest(target, request) };
      } catch (error) {
        response = { ok: false, error: error instanceof Error ? error.message : String(error) };
      }
      if (!socket.writable) return;
      socket.write(`${JSON.stringify(id === undefined ? response : { id, ...response })}\n`);
    }
  });
}

/**
 * Who is at the unix socket `path`: `stale` when nothing listens (ECONNREFUSED), the pid of the
 * kelpie that answers `status`, or `unknown` (a server that does not answer in time, a socket
 * this user may not open): never removed.
 */
async function socketOwner(path: string): Promise<number | 'stale' | 'unknown'> {
  const client = new ControlClient(path);
  const timeout = new Promise<'unknown'>((resolve) => setTimeout(() => resolve('unknown'), 1000).unref());
  try {
    const answer = await Promise.race([client.request({ command: 'status' }), timeout]);
    if (answer === 'unknown') return 'unknown';
    const pid = answer.ok ? (answer.result as { pid?: unknown }).pid : undefined;
    return typeof pid === 'number' ? pid : 'unknown';
  } catch (error) {
    return error instanceof ControlConnectError && error.code === 'ECONNREFUSED' ? 'stale' : 'unknown';
  } finally {
    client.close();
  }
}

export interface ControlServer {
  readonly path: string;
  close(): void;
}

/**
 * Listen on `path` (mode 0600, its folder created 0700 if missing). A socket another live server
 * answers on is left to it, unless that server is `takeOverFrom` (the arbiter a USR2 one
 * replaces); a stale one is replaced; anything else at the path is never removed. Undefined when
 * not listening (logged).
 */
export async function openControlSocket(
  path: string,
  target: ControlTarget,
  log: Logger,
  options: { takeOverFrom?: number } = {},
): Promise<ControlServer | undefined> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (error) {
    log.warning(`No control socket: cannot create the folder of ${path}: ${(error as Error).message}`);
    return undefined;
  }
  const existing = lstatOrNull(path);
  if (existing) {
    if (!existing.isSocket()) {
      log.warning(`No control socket: ${path} exists and is not a socket; set --control-socket to another path`);
      return undefined;
    }
    // Replaced only when stale, or held by the arbiter this one replaces (USR2).
    const owner = await socketOwner(path);
    if (owner !== 'stale' && owner !== options.takeOverFrom) {
      log.warning(
        `No control socket: another ${owner === 'unknown' ? 'server' : `kelpie (pid ${owner})`} answers on ${path}; give this one its own with --control-socket PATH`,
      );
      return undefined;
    }
    try {
      unlinkSync(path);
    } catch {
      // Gone meanwhile: listen() says if it cannot bind.
    }
  }
  const server: Server = createServer((socket) => serveConnection(socket, target, log));
  const listening = new Promise<boolean>((resolve) => {
    server.once('listening', () => resolve(true));
    server.once('error', (error) => {
      log.warning(`No control socket: cannot listen on ${path}: ${error.message}`);
      resolve(false);
    });
  });
  // The socket is created with the umask's mode: make it 0600 from the start, not after a chmod.
  const previousMask = process.umask(0o177);
  try {
    server.listen(path);
  } finally {
    process.umask(previousMask);
  }
  if (!(await listening)) return undefined;
  // No chmod afterwards: by then the path may be a link another user put there (one who can write
  // to the folder), and chmod follows links. bind() created the socket 0600 (the umask above).
  server.unref();
  const inode = lstatOrNull(path)?.ino;
  log.debug(`Control socket at ${path}`);
  return {
    path,
    close() {
      server.close();
      // Leave the path alone when another arbiter (a USR2 successor) has taken it over.
      if (lstatOrNull(path)?.ino === inode) {
        try {
          unlinkSync(path);
        } catch {
          // Already gone.
        }
      }
    },
  };
}

/**
 * `bigint: true` on purpose: Node's synchronous stat fills a buffer that its CommonJS loader reads
 * again while resolving symlinks, and after a stat of a socket it stops resolving them, so a
 * package required next through a pnpm symlink (prom-client) cannot find its own dependencies.
 * BigInt stats use another buffer.
 */
function lstatOrNull(path: string) {
  try {
    return lstatSync(path, { bigint: true });
  } catch {
    return null;
  }
}

/** Why a client could not talk to the server. */
export class ControlConnectError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.name = 'ControlConnectError';
    this.code = code;
  }
}

/**
 * A client connection to a control socket: `request()` sends one request and resolves with the
 * server's response (rejects with a ControlConnectError when the server cannot be reached or
 * goes away).
 */
export class ControlClient {
  readonly #socket: Socket;
  readonly #waiting: ((response: ControlResponse | Error) => void)[] = [];
  #buffered = '';
  #failure: Error | undefined;
  readonly #connected: Promise<void>;

  constructor(path: string) {
    const socket = createConnection(path);
    this.#socket = socket;
    socket.setEncoding('utf8');
    this.#connected = new Promise((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', (error: NodeJS.ErrnoException) => {
        const reason =
          error.code === 'ENOENT'
            ? `no control socket at ${path} (is the server running, with this --control-socket?)`
            : error.code === 'ECONNREFUSED'
              ? `no server answers on ${path} (it is not running any more)`
              : error.code === 'EACCES'
                ? `not allowed to use ${path} (it belongs to the user the server runs as)`
                : `cannot connect to ${path}: ${error.message}`;
        this.#fail(new ControlConnectError(reason, error.code));
        reject(this.#failure);
      });
    });
    this.#connected.catch(() => {});
    socket.on('data', (chunk: string) => {
      this.#buffered += chunk;
      let newline = this.#buffered.indexOf('\n');
      while (newline !== -1) {
        const line = this.#buffered.slice(0, newline);
        this.#buffered = this.#buffered.slice(newline + 1);
        newline = this.#buffered.indexOf('\n');
        let response: ControlResponse | Error;
        try {
          response = JSON.parse(line) as ControlResponse;
        } catch {
          response = new ControlConnectError(
            `the server sent something that is not JSON: ${line.slice(0, 80)}`,
            undefined,
          );
        }
        this.#waiting.shift()?.(response);
      }
    });
    socket.on('close', () => this.#fail(new ControlConnectError('the server closed the connection', undefined)));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#waiting.splice(0)) waiter(this.#failure);
  }

  async request(request: ControlRequest): Promise<ControlResponse> {
    await this.#connected;
    if (this.#failure) throw this.#failure;
    return new Promise((resolve, reject) => {
      this.#waiting.push((response) => (response instanceof Error ? reject(response) : resolve(response)));
      this.#socket.write(`${JSON.stringify(request)}\n`);
    });
  }

  close(): void {
    this.#socket.end();
    this.#socket.destroy();
  }
}
