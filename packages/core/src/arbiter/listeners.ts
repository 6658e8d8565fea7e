import { spawn } from 'node:child_process';
import { accessSync, constants, fstatSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { dirname, resolve } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { type BindAddress, formatAddress, parseBind } from '../config/bind.js';
import type { Settings } from '../config/settings.js';
import { KelpieError } from '../errors.js';
import type { Logger } from '../observability/logger.js';

/**
 * Listening sockets owned by the arbiter.
 *
 * The arbiter must hold listening sockets without ever accepting on them: workers accept
 * directly (the kernel spreads connections), so the arbiter stays out of the request path, and
 * the socket keeps queueing connections while workers come and go. Node has no public way to
 * listen(2) without also polling for connections, so the arbiter creates and binds each socket
 * in its own process (the same internal `net._createServerHandle` that node:cluster uses), and
 * the first worker calls listen(2) on spare descriptors of them before it loads anything
 * (listen-in-worker.ts), or else one short-lived helper process that inherits the descriptors
 * does and exits. Listening is a property of the socket, not of a descriptor, so the sockets stay
 * listening in the arbiter, which never registers them with its event loop. Workers inherit the
 * descriptors.
 */

export interface Listener {
  readonly address: BindAddress;
  /** The descriptor in the arbiter's process. */
  readonly fd: number;
  /** For logs: `http://127.0.0.1:8000`, `unix:/run/app.sock`. Port 0 is replaced by the real port. */
  readonly url: string;
  /** Bound here and not listening yet: startListening() calls listen(2) on it. */
  readonly needsListen: boolean;
  /**
   * The socket's handle, for sending over IPC: the receiving process gets its own descriptor of
   * the same listening socket.
   */
  readonly handle: object;
  /**
   * Accept connections in this process, for worker classes whose connections the arbiter hands
   * out (`accept = 'arbiter'`). Each connection arrives as a raw handle, not yet read from.
   */
  accept(onConnection: (client: ClientHandle) => void, onError: (code: string) => void): void;
  /** Close the descriptor; unlink a unix socket file we created (unless `keepFile`). */
  close(options?: { keepFile?: boolean }): void;
}

/** An accepted connection's handle; close() it once it has been sent to a worker. */
export interface ClientHandle {
  close(): void;
}

interface RawHandle {
  fd: number;
  close(): void;
  getsockname?(out: { port?: number }): number;
  listen?(backlog: number): number;
  onconnection?: ((status: number, client?: ClientHandle) => void) | null;
}

type CreateServerHandle = (
  address: string | null,
  port: number,
  addressType: number,
  fd?: number,
  flags?: number,
) => RawHandle | number;

function createServerHandle(): CreateServerHandle {
  const fn = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof fn !== 'function') {
    throw new KelpieError(
      'KELPIE_ERR_PLATFORM',
      `This Node.js (${process.version}) lacks net._createServerHandle, which kelpie uses to bind listening sockets.`,
    );
  }
  return fn;
}

const LISTEN_HELPER = `
const net = require('node:net');
const count = Number(process.argv[1]);
const backlog = Number(process.argv[2]);
const results = [];
let pending = count;
for (let i = 0; i < count; i++) {
  const server = net.createServer();
  server.once('error', (err) => { results[i] = err.code || String(err); done(); });
  // The backlog as an argument: net.Server ignores options.backlog when listening on an fd.
  server.listen({ fd: 3 + i }, backlog, () => { results[i] = 'ok'; done(); });
}
function done() { if (--pending === 0) { process.stdout.write(JSON.stringify(results)); process.exit(0); } }
`;

/** listen(2) on every descriptor, from one helper process. Resolves with an error code name per fd, or 'ok'. */
function listenInHelper(fds: number[], backlog: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const failed = (reason: string) =>
      reject(new KelpieError('KELPIE_ERR_BIND', `Could not start listening: the listen helper failed (${reason})`));
    const helper = spawn(process.execPath, ['-e', LISTEN_HELPER, String(fds.length), String(backlog)], {
      stdio: ['ignore', 'pipe', 'pipe', ...fds],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    helper.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    helper.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    helper.once('error', (error) => failed(error.message));
    helper.once('close', (status) => {
      if (status !== 0 || !stdout) failed(stderr.trim() || `exit status ${status}`);
      else resolve(JSON.parse(stdout) as string[]);
    });
  });
}

async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const family = net.isIP(host);
  if (family) return { address: host, family: family as 4 | 6 };
  try {
    // Required only for a host name: most binds are addresses, and node:dns costs a start CPU.
    const { lookup } = createRequire(import.meta.url)('node:dns/promises') as typeof import('node:dns/promises');
    const found = await lookup(host);
    return { address: found.address, family: found.family as 4 | 6 };
  } catch (error) {
    throw new KelpieError('KELPIE_ERR_BIND', `Cannot resolve host "${host}" for --bind`, { cause: error });
  }
}

/** A unix socket file left behind by a dead server is removed; one a live server answers on is in use. */
async function clearStaleSocket(path: string): Promise<'clear' | 'in-use'> {
  let stat: { isSocket(): boolean };
  try {
    // bigint: a plain sync stat of a socket misleads Node's module resolution afterwards (see control.ts).
    stat = lstatSync(path, { bigint: true });
  } catch {
    return 'clear';
  }
  if (!stat.isSocket()) {
    throw new KelpieError('KELPIE_ERR_BIND', `Cannot bind unix:${path}: the path exists and is not a socket`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) return 'in-use';
  unlinkSync(path);
  return 'clear';
}

/**
 * Why a unix socket cannot be made at `path`, read from its folder. libuv reports a missing
 * folder as EACCES, which sends people looking at permissions; say what is really wrong.
 */
export function socketFolderProblem(path: string): string | undefined {
  const folder = dirname(resolve(path));
  let isFolder: boolean;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `the folder ${folder} does not exist`;
    if (code === 'ENOTDIR') return `${folder} is not a folder (a part of the path is a file)`;
    if (code === 'EACCES') return `the folder ${folder} cannot be reached by ${thisUser()}`;
    return undefined;
  }
  if (!isFolder) return `${folder} is not a folder`;
  try {
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch {
    return `the folder ${folder} is not writable by ${thisUser()}`;
  }
  return undefined;
}

function thisUser(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'this user' : `this user (uid ${uid})`;
}

type Attempt = { handle: RawHandle; url: string; ownsFile: string | null } | { error: string };

/** libuv's UV_TCP_REUSEPORT bind flag (Node 22.12+ passes it through; older versions ignore it). */
const UV_TCP_REUSEPORT = 2;

async function bindOne(address: BindAddress, reusePort: boolean): Promise<Attempt> {
  const create = createServerHandle();
  if (address.kind === 'unix') {
    if ((await clearStaleSocket(address.path)) === 'in-use') return { error: 'EADDRINUSE' };
    const handle = create(address.path, -1, -1);
    if (typeof handle === 'number') {
      const code = getSystemErrorName(handle);
      const problem = socketFolderProblem(address.path);
      return { error: problem ? `${problem} (${code})` : code };
    }
    return { handle, url: formatAddress(address), ownsFile: address.path };
  }
  if (address.kind === 'tcp') {
    const { address: ip, family } = await resolveHost(address.host);
    const handle = create(ip, address.port, family, undefined, reusePort ? UV_TCP_REUSEPORT : undefined);
    if (typeof handle === 'number') return { error: getSystemErrorName(handle) };
    // libuv defers EADDRINUSE from bind(2) to listen time and leaves the socket unbound; an
    // unbound socket would later be listened on at a random port, so catch it here.
    const out: { port?: number } = {};
    handle.getsockname?.(out);
    if (!out.port) {
      handle.close();
      return { error: 'EADDRINUSE' };
    }
    return { handle, url: formatAddress(address, out.port), ownsFile: null };
  }
  throw new Error('fd binds are not created here');
}

function inheritedFd(
  address: Extract<BindAddress, { kind: 'fd' }>,
  options: BindOptions,
  needsListen: boolean,
): Listener {
  let isSocket = false;
  try {
    // bigint: a plain sync stat of a socket misleads Node's module resolution afterwards (see control.ts).
    isSocket = fstatSync(address.fd, { bigint: true }).isSocket();
  } catch (error) {
    throw new KelpieError(
      'KELPIE_ERR_BIND',
      `Cannot use --bind ${address.text}: descriptor ${address.fd} is not open`,
      {
        cause: error,
      },
    );
  }
  if (!isSocket) {
    throw new KelpieError(
      'KELPIE_ERR_BIND',
      `Cannot use --bind ${address.text}: descriptor ${address.fd} is not a socket`,
    );
  }
  const handle = createServerHandle()(null, 0, -1, address.fd);
  if (typeof handle === 'number') {
    throw new KelpieError(
      'KELPIE_ERR_BIND',
      `Cannot use --bind ${address.text}: ${getSystemErrorName(handle)} opening descriptor ${address.fd}`,
    );
  }
  return makeListener(address, handle, address.text, null, options, needsListen);
}

export interface BindOptions {
  backlog: number;
  log: Logger;
  /** Attempts per address while it is in use (Gunicorn: 5, a second apart). */
  attempts?: number;
  /** --reuse-port: TCP sockets are bound with SO_REUSEPORT, so workers can bind theirs beside them. */
  reusePort?: boolean;
  retryDelayMs?: number;
}

function bindError(text: string, error: string, attempts: number): KelpieError {
  return error === 'EADDRINUSE'
    ? new KelpieError(
        'KELPIE_ERR_ADDRESS_IN_USE',
        `Can't connect to ${text}: address already in use (tried ${attempts} time${attempts === 1 ? '' : 's'}). Is another server running there?`,
      )
    : new KelpieError('KELPIE_ERR_BIND', `Can't bind ${text}: ${error}`);
}

/**
 * Bind every address, retrying addresses in use; listen(2) comes later (startListening). Throws
 * a KelpieError naming the address when one cannot be had.
 */
export async function bindListeners(texts: readonly string[], options: BindOptions): Promise<Listener[]> {
  const attempts = options.attempts ?? 5;
  const delay = options.retryDelayMs ?? 1000;
  const listeners: Listener[] = [];
  try {
    for (const text of texts) {
      const address = parseBind(text);
      if (address.kind === 'fd') {
        listeners.push(inheritedFd(address, options, true));
        continue;
      }
      for (let attempt = 1; ; attempt++) {
        const bound = await bindOne(address, options.reusePort === true);
        if (!('error' in bound)) {
          listeners.push(makeListener(address, bound.handle, bound.url, bound.ownsFile, options, true));
          break;
        }
        if (bound.error !== 'EADDRINUSE' || attempt >= attempts) throw bindError(address.text, bound.error, attempts);
        options.log.error(`Connection in use: ${address.text}`);
        options.log.error('Retrying in 1 second.');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  } catch (error) {
    for (const listener of listeners) listener.close();
    throw error;
  }
  return listeners;
}

/** The listeners bound here that do not listen yet (the others were handed down listening). */
export function needingListen(listeners: readonly Listener[]): Listener[] {
  return listeners.filter((listener) => listener.needsListen);
}

/** How long the arbiter waits for the first worker's listen(2) before a helper does it instead. */
export const WORKER_LISTEN_WAIT_MS = 5_000;

/** The worker's report, or undefined when it has not come within `ms`. */
async function reportWithin(report: Promise<string[] | undefined>, ms: number): Promise<string[] | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([report, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * listen(2) on the listeners bound here (the others listen already): by the first worker, on spare
 * descriptors, when `inWorker` is its report (listen-in-worker.ts), else, or when that worker
 * exited or did not report within WORKER_LISTEN_WAIT_MS, in one helper process for all of them.
 * Either runs while the first workers boot: they cannot accept before their own listen(2), which
 * comes after loading the app. A failure names the address: in use (another server bound the same
 * port at the same moment and listened first) or another error. Resolves with who listened.
 */
export async function startListening(
  listeners: readonly Listener[],
  backlog: number,
  inWorker?: Promise<string[] | undefined>,
): Promise<'worker' | 'helper' | 'none'> {
  const pending = needingListen(listeners);
  if (!pending.length) return 'none';
  const reported = inWorker && (await reportWithin(inWorker, WORKER_LISTEN_WAIT_MS));
  const states =
    reported ??
    (await listenInHelper(
      pending.map((listener) => listener.fd),
      backlog,
    ));
  pending.forEach((listener, i) => {
    const state = states[i] ?? 'no answer';
    if (state === 'ok') return;
    throw listener.address.kind === 'fd'
      ? new KelpieError('KELPIE_ERR_BIND', `Cannot listen on --bind ${listener.address.text}: ${state}`)
      : bindError(listener.address.text, state, 1);
  });
  return reported ? 'worker' : 'helper';
}

function safeUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

function makeListener(
  address: BindAddress,
  handle: RawHandle,
  url: string,
  ownsFile: string | null,
  bindOptions: BindOptions,
  needsListen = false,
): Listener {
  const fd = handle.fd;
  let open = true;
  return {
    address,
    fd,
    url,
    needsListen,
    handle,
    accept(onConnection, onError) {
      // The node:cluster primary accepts the same way in round-robin mode.
      handle.onconnection = (status, client) => {
        if (status < 0 || !client) onError(getSystemErrorName(status));
        else onConnection(client);
      };
      const status = handle.listen?.(bindOptions.backlog) ?? -22;
      if (status < 0) {
        throw new KelpieError('KELPIE_ERR_BIND', `Cannot accept on ${url}: ${getSystemErrorName(status)}`);
      }
    },
    close(options) {
      if (!open) return;
      open = false;
      if (ownsFile && options?.keepFile) {
        // libuv unlinks the path of a unix socket it bound when the handle closes, and the other
        // arbiter of a binary upgrade still serves on it: leave the handle open (it closes with
        // this process) and refuse what it would still accept.
        if (handle.onconnection) handle.onconnection = (_status, client) => client?.close();
        return;
      }
      handle.close();
      if (ownsFile && !options?.keepFile) safeUnlink(ownsFile);
    },
  };
}

/**
 * Listening sockets handed down instead of bound: by a USR2 parent (`KELPIE_FD=3,4`, in --bind
 * order) or by systemd (`LISTEN_FDS`, from fd 3). `binds` names them for logs when the counts
 * match (a TCP socket's real address is read from the socket either way); a unix socket path
 * named there is unlinked when this arbiter closes it for good.
 */
export function inheritListeners(
  fds: readonly number[],
  binds: readonly string[],
  options: BindOptions,
  source: string,
): Listener[] {
  return fds.map((fd, i) => {
    const named = fds.length === binds.length ? parseBind(binds[i] as string) : undefined;
    const address: Extract<BindAddress, { kind: 'fd' }> = { kind: 'fd', fd, text: `fd://${fd}` };
    let listener = inheritedFd(address, options, false);
    const handle = listener.handle as RawHandle;
    const out: { address?: string; port?: number; family?: string } = {};
    if (handle.getsockname && handle.getsockname(out) === 0 && out.port !== undefined) {
      const host = out.family === 'IPv6' ? `[${out.address}]` : (out.address as string);
      const tcp: BindAddress = {
        kind: 'tcp',
        host: out.address as string,
        port: out.port,
        text: `${host}:${out.port}`,
      };
      listener = makeListener(tcp, handle, formatAddress(tcp, out.port), null, options);
    } else if (named?.kind === 'unix') {
      listener = makeListener(named, handle, formatAddress(named), named.path, options);
    }
    options.log.debug(`Inherited ${listener.url} from ${source} (fd ${fd})`);
    return listener;
  });
}

/**
 * The arbiter's listening sockets at start: from a USR2 parent (KELPIE_FD), from systemd
 * (LISTEN_FDS), or bound here. Takes the variables it uses out of `env`.
 */
export async function openListeners(
  settings: Pick<Settings, 'backlog' | 'reusePort' | 'bind'>,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Listener[]> {
  const options = { backlog: settings.backlog, log, reusePort: settings.reusePort };
  const fdList = (text: string) => text.split(',').map((fd) => Number(fd.trim()));
  if (env.KELPIE_FD) {
    const fds = fdList(env.KELPIE_FD);
    delete env.KELPIE_FD;
    return inheritListeners(fds, settings.bind, options, 'the previous arbiter (KELPIE_FD)');
  }
  // LISTEN_PID=1 under KELPIE_UNDER_INIT: activated for a PID 1 kelpie that runs this one under tini.
  const forThisProcess =
    Number(env.LISTEN_PID) === process.pid || (env.LISTEN_PID === '1' && env.KELPIE_UNDER_INIT === '1');
  if (env.LISTEN_FDS && forThisProcess) {
    const count = Number(env.LISTEN_FDS);
    delete env.LISTEN_FDS;
    delete env.LISTEN_PID;
    delete env.LISTEN_FDNAMES;
    const fds = Array.from({ length: count }, (_, i) => 3 + i);
    log.info(`Using ${count} socket(s) from systemd (LISTEN_FDS); --bind is not used`);
    return inheritListeners(fds, [], options, 'systemd (LISTEN_FDS)');
  }
  return bindListeners(settings.bind, options);
}
