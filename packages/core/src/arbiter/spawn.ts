import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hasWorkerHooks } from '../config/hooks.js';
import { type BootMessage, FIRST_LISTENER_FD, type InheritedListener, LISTEN_SPARES_ENV } from '../ipc/protocol.js';
import type { Identity } from './accounts.js';
import type { ArbiterContext } from './context.js';
import type { Listener } from './listeners.js';
import { workerEnvironment } from './worker-env.js';

/**
 * Starting one worker process: the command, its descriptors (the listening sockets from
 * descriptor FIRST_LISTENER_FD on, the IPC channel), its environment and identity, and the
 * `kelpie:boot` message that tells it what to serve. The pool (pool.ts) decides when.
 */

const defaultWorkerMain = (): string => fileURLToPath(new URL('./worker-main.js', import.meta.url));

/** The listening sockets as a worker inherits them. */
export function inheritedListeners(ctx: ArbiterContext): InheritedListener[] {
  const { settings, tls } = ctx;
  return ctx.listeners.map((listener, i) => ({
    fd: FIRST_LISTENER_FD + i,
    bind: listener.address.text,
    url: ctx.urlOf(listener),
    ...(tls ? { tls } : {}),
    ...(settings.reusePort && listener.address.kind === 'tcp'
      ? { reusePort: { host: listener.address.host, port: Number(new URL(listener.url).port || 80) } }
      : {}),
  }));
}

/**
 * Spawn a worker process (its pid is undefined when it could not be started). `spares`: sockets
 * it also gets after its listeners, to put to listen(2) for the arbiter (listen-in-worker.ts).
 */
export function spawnWorkerProcess(
  ctx: ArbiterContext,
  identity: Identity | undefined,
  spares: readonly Listener[] = [],
): ChildProcess {
  const { settings, listeners } = ctx;
  const env = workerEnvironment(
    process.env,
    listeners.map((listener) => ctx.urlOf(listener)),
    settings.env,
  );
  if (spares.length) {
    const first = FIRST_LISTENER_FD + listeners.length;
    env[LISTEN_SPARES_ENV] = `${settings.backlog}:${spares.map((_, i) => first + i).join(',')}`;
  }
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--inspect'));
  // With --error-logfile, what a worker writes to stderr itself (a fatal error) lands there too.
  const errorFd = (ctx.log.sink as { fd?: number }).fd ?? 2;
  return spawn(process.execPath, [...execArgv, ctx.options.workerMain ?? defaultWorkerMain()], {
    // --capture-output: the worker's standard output goes where the error log goes.
    stdio: [
      0,
      settings.captureOutput ? errorFd : 1,
      errorFd,
      'ipc',
      ...listeners.map((l) => l.fd),
      ...spares.map((l) => l.fd),
    ],
    cwd: settings.chdir,
    env,
    ...(identity ?? {}),
  });
}

/** What a new worker is told right after spawn. */
export function bootMessage(ctx: ArbiterContext, age: number, listeners: InheritedListener[]): BootMessage {
  const { options, settings } = ctx;
  return {
    type: 'kelpie:boot',
    age,
    settings,
    appModule: options.appModule,
    workerModule: options.worker.module,
    workerExport: options.worker.exportName,
    listeners,
    searchFrom: options.searchFrom ?? [settings.chdir],
    configFile: ctx.configFile,
    workerHooks: hasWorkerHooks(ctx.hooks),
  };
}
