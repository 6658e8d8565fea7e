import { type ChildProcess, spawn } from 'node:child_process';
import { runHook } from '../config/hooks.js';
import type { ArbiterContext } from './context.js';
import { removePidfile, renamePidfile, writePidfile } from './pidfile.js';
import type { WorkerPool } from './pool.js';

/**
 * The binary upgrade, as in Gunicorn. USR2 starts a new arbiter from the same command line with
 * the listening sockets (KELPIE_FD) and this pid (KELPIE_PID); WINCH stops this arbiter's workers
 * while it keeps its sockets. The new arbiter writes PIDFILE.2 and is promoted (takes the pidfile
 * over) once the one that started it has exited. This file holds both sides and the pidfile.
 */
export class Upgrade {
  readonly #ctx: ArbiterContext;
  readonly #pool: WorkerPool;
  /** Called when the new arbiter this one started has exited (a rollback). */
  readonly #onChildExit: () => void;
  /** The pidfile this arbiter wrote (FILE, or FILE.2 while it is a USR2 child not yet promoted). */
  #pidfile: string | undefined;
  /** A USR2 child: the pid of the arbiter that started it, until that one exits. */
  #parent: number | undefined;
  /** The new arbiter this one started on USR2, while it runs. */
  #child: ChildProcess | undefined;
  /** USR2 is running the preExec hook: a second USR2 waits for nothing and is ignored. */
  #reexecPending = false;
  #promotionTimer: NodeJS.Timeout | undefined;

  constructor(ctx: ArbiterContext, pool: WorkerPool, onChildExit: () => void) {
    this.#ctx = ctx;
    this.#pool = pool;
    this.#onChildExit = onChildExit;
  }

  /** A USR2 child not promoted yet: the pid of the arbiter that started it. */
  get parent(): number | undefined {
    return this.#parent;
  }

  /** The other arbiter of an upgrade is running (a unix socket file stays while it does). */
  get underWay(): boolean {
    return Boolean(this.#child || this.#parent);
  }

  /** At start: find the arbiter that started this one by USR2, if any, and write the pidfile. */
  begin(): void {
    const parent = Number(process.env.KELPIE_PID);
    if (parent > 0 && parent === process.ppid) this.#parent = parent;
    const { pidfile } = this.#ctx.settings;
    if (pidfile) {
      this.#pidfile = this.#parent ? `${pidfile}.2` : pidfile;
      writePidfile(this.#pidfile);
    }
  }

  removePidfile(): void {
    if (this.#pidfile) removePidfile(this.#pidfile);
  }

  /** A USR2 child: watch for the old arbiter's exit. */
  watchForPromotion(): void {
    if (!this.#parent) return;
    this.#ctx.log.info(`Started by USR2 from the arbiter with pid ${this.#parent}; promoted once it exits`);
    this.#promotionTimer = setInterval(() => this.maybePromote(), 500);
  }

  stopWatchingForPromotion(): void {
    clearInterval(this.#promotionTimer);
  }

  /** A USR2 child: once the old arbiter has exited, take over the pidfile. */
  maybePromote(): void {
    const { log, settings, options } = this.#ctx;
    if (!this.#parent || process.ppid === this.#parent) return;
    this.#parent = undefined;
    clearInterval(this.#promotionTimer);
    delete process.env.KELPIE_PID;
    log.info('Master has been promoted.');
    if (this.#pidfile && settings.pidfile) {
      try {
        renamePidfile(this.#pidfile, settings.pidfile);
        this.#pidfile = settings.pidfile;
      } catch (error) {
        log.error(`Could not take over the pid file ${settings.pidfile}`, error);
      }
    }
    process.title = `kelpie: master [${settings.procName ?? options.appModule}]`;
  }

  /**
   * USR2: start a new arbiter from the same command line (the code on disk now), handing it the
   * listening sockets (KELPIE_FD) and this pid (KELPIE_PID). Both serve until one is stopped.
   */
  async reexec(): Promise<void> {
    const ctx = this.#ctx;
    if (!ctx.running || this.#refuseReexec()) return;
    this.#reexecPending = true;
    try {
      await runHook(ctx.hooks, 'preExec', ctx.log, ctx.view());
    } finally {
      this.#reexecPending = false;
    }
    // The hook may have run while a TERM or INT arrived: a stopping arbiter starts no successor.
    if (!ctx.running) return;
    const child = this.#spawnArbiter();
    if (child.pid === undefined) {
      child.once('error', (error) => ctx.log.error('Could not start a new arbiter for USR2', error));
      return;
    }
    this.#child = child;
    child.unref();
    ctx.log.info(`Started a new arbiter (pid: ${child.pid}) with the listening sockets`);
    child.once('exit', (code, signal) => {
      this.#child = undefined;
      ctx.log.info(`The new arbiter (pid: ${child.pid}) exited (${signal ?? `code ${code}`})`);
      this.#onChildExit();
    });
  }

  /** Why USR2 does nothing now, logged; false when it goes ahead. */
  #refuseReexec(): boolean {
    const log = this.#ctx.log;
    if (this.#child) {
      log.warning(`USR2 ignored: the new arbiter (pid: ${this.#child.pid}) is still running`);
      return true;
    }
    if (this.#parent) {
      log.warning('USR2 ignored: this arbiter was itself started by USR2 and is not promoted yet');
      return true;
    }
    if (this.#reexecPending) {
      log.warning('USR2 ignored: an upgrade is already being started');
      return true;
    }
    return false;
  }

  /** The new arbiter: this one's command, with the listening sockets as descriptors 3, 4, ... */
  #spawnArbiter(): ChildProcess {
    const command = this.#ctx.options.reexec ?? {
      execPath: process.execPath,
      args: [...process.execArgv, ...process.argv.slice(1)],
      cwd: process.cwd(),
      env: process.env,
    };
    const fds = this.#ctx.listeners.map((listener) => listener.fd);
    return spawn(command.execPath, command.args, {
      cwd: command.cwd,
      env: {
        ...command.env,
        KELPIE_PID: String(process.pid),
        // No IPC channel here: the sockets are descriptors 3, 4, ...
        KELPIE_FD: fds.map((_, i) => 3 + i).join(','),
      },
      stdio: ['inherit', 'inherit', 'inherit', ...fds],
      // Its own process group: signals for this arbiter's group must not reach it.
      detached: true,
    });
  }

  /**
   * WINCH: stop every worker but keep the arbiter and its sockets (the first step of a binary
   * upgrade: the new arbiter serves alone; HUP brings the workers back). As in Gunicorn it acts
   * for a daemonized arbiter; kelpie also acts while a USR2 arbiter it started is running.
   */
  winch(): void {
    const ctx = this.#ctx;
    if (!ctx.running) return;
    if (!ctx.settings.daemon && !this.#child) {
      ctx.log.info('SIGWINCH ignored. Not daemonized and no binary upgrade under way.');
      return;
    }
    ctx.log.info('graceful stop of workers');
    ctx.numWorkers = 0;
    for (const worker of ctx.workers.values()) if (!worker.retiring) this.#pool.retire(worker, 'scale');
  }
}
