import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  VERSION as CORE_VERSION,
  ExitCode,
  errorLogSink,
  isKelpieError,
  Logger,
  type LogSink,
  type Settings,
  type TlsMaterial,
} from '@kelpie/core';
import {
  Arbiter,
  type Configuration,
  checkSticky,
  effectiveWorkerClass,
  exitCodeOf,
  formatAddress,
  helpText,
  loadApp,
  loadTlsMaterial,
  parseBind,
  printConfigText,
  type Reconfiguration,
  type ResolvedWorker,
  resolveConfiguration,
  resolveWorker,
  routeAppSignals,
  startListenCapture,
} from '@kelpie/core/internal';
import { runAsInit } from './init.js';
import { versionLine } from './version.js';

export { VERSION } from './version.js';

/** Folder of this package: worker classes are looked up here after the user's project. */
const OWN_DIR = fileURLToPath(new URL('..', import.meta.url));

export interface MainIO {
  env?: NodeJS.ProcessEnv;
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
}

function usageError(message: string, stderr: NonNullable<MainIO['stderr']>): number {
  stderr.write(`usage: kelpie [OPTIONS] APP_MODULE\nkelpie: error: ${message}\nTry 'kelpie --help' for the options.\n`);
  return ExitCode.USAGE;
}

/**
 * -D/--daemon: start a detached copy of this command in a new session with standard streams on
 * /dev/null, relay its log lines until it has bound its addresses, then exit 0 (or with its
 * status if it fails first). The copy knows it is one by KELPIE_DAEMON_CHILD.
 */
function daemonize(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  stderr: NonNullable<MainIO['stderr']>,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1] as string, ...argv], {
      cwd,
      env: { ...env, KELPIE_DAEMON_CHILD: '1' },
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      detached: true,
    });
    child.on('message', (message: { type?: string; line?: string }) => {
      if (message?.type === 'kelpie:daemon-log' && message.line) stderr.write(message.line);
      if (message?.type === 'kelpie:daemon-ready') {
        child.disconnect();
        child.unref();
        resolve(ExitCode.OK);
      }
    });
    child.once('exit', (code) => resolve(code ?? ExitCode.ERROR));
    child.once('error', (error) => {
      stderr.write(`kelpie: error: cannot start the daemon: ${error.message}\n`);
      resolve(ExitCode.ERROR);
    });
  });
}

/** Apply -e/--env and --chdir to this process, so the workers it spawns inherit them. */
function applyProcessSettings(settings: Settings): void {
  if (settings.umask !== null) process.umask(settings.umask);
  setEnvironment(settings.env);
  process.chdir(settings.chdir);
}

/** NAME=VALUE pairs of -e/--env into this process's environment. */
function setEnvironment(pairs: readonly string[]): void {
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    process.env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
}

/**
 * Run the kelpie command line; resolves with the process exit status (0 after a clean stop,
 * 2 for usage errors, 3 when workers cannot boot, 4 when the app cannot be loaded).
 */
export async function main(argv: readonly string[], io: MainIO = {}): Promise<number> {
  // `kelpie ctl ...` talks to a running server instead of starting one; loaded only then (its
  // views and argument parsing are no part of a start).
  if (argv[0] === 'ctl') return (await import('./ctl.js')).ctlMain(argv.slice(1), io);
  const env = io.env ?? process.env;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  // USR2 starts the new arbiter with the environment and directory kelpie started with.
  const originalEnv = { ...env };

  const startDir = process.cwd();
  let commandLine: Configuration;
  try {
    commandLine = await resolveConfiguration(argv, env, startDir);
  } catch (error) {
    if (!isKelpieError(error)) throw error;
    if (error.code === 'KELPIE_ERR_USAGE' || error.code === 'KELPIE_ERR_INVALID_SETTING') {
      return usageError(error.message, stderr);
    }
    // The config file (KELPIE_ERR_CONFIG, exit 2; KELPIE_ERR_CONFIG_TIMEOUT, exit 5) and the rest.
    stderr.write(`kelpie: error: ${error.message}\n`);
    return exitCodeOf(error);
  }
  if (commandLine.help) {
    stdout.write(helpText());
    return ExitCode.OK;
  }
  if (commandLine.version) {
    stdout.write(versionLine(CORE_VERSION));
    return ExitCode.OK;
  }
  if (commandLine.settings.printConfig) {
    stdout.write(printConfigText(commandLine));
    return ExitCode.OK;
  }
  if (!commandLine.appModule) return usageError('No application module specified (APP_MODULE).', stderr);
  const appModule = commandLine.appModule;

  const { settings } = commandLine;
  // Daemonize, unless this is the daemon already or a new arbiter started by USR2.
  if (settings.daemon && !env.KELPIE_DAEMON_CHILD && !env.KELPIE_FD) {
    return daemonize(argv, env, startDir, stderr);
  }
  const daemonChild = Boolean(env.KELPIE_DAEMON_CHILD && process.send);
  delete env.KELPIE_DAEMON_CHILD;
  // The daemon relays its log lines to the command that started it, until it is ready.
  // The error log: stderr, or --error-logfile (then also what workers print to stderr).
  let sink: LogSink;
  try {
    sink = settings.errorLogfile === '-' ? stderr : errorLogSink(settings.errorLogfile);
  } catch (error) {
    stderr.write(`kelpie: error: Cannot open --error-logfile ${settings.errorLogfile}: ${(error as Error).message}\n`);
    return ExitCode.USAGE;
  }
  const log = new Logger(
    settings.logLevel,
    daemonChild
      ? ({
          write(line: string) {
            sink.write(line);
            if (process.connected) process.send?.({ type: 'kelpie:daemon-log', line });
          },
          // The file workers inherit as stderr (the arbiter looks for it).
          get fd() {
            return (sink as { fd?: number }).fd;
          },
        } as LogSink)
      : sink,
    settings.logFormat,
  );
  // PID 1 in a container: the real kelpie runs under tini, which reaps orphans (init.ts).
  const asInit = await runAsInit(argv, log);
  if (asInit !== undefined) return asInit;
  try {
    applyProcessSettings(settings);
  } catch (error) {
    log.error(`Cannot change to directory ${settings.chdir}: ${(error as Error).message}`);
    return ExitCode.USAGE;
  }

  const workerClass = effectiveWorkerClass(settings);
  if (workerClass !== settings.workerClass) {
    log.info(`-k ${settings.workerClass} with --threads ${settings.threads}: using the ${workerClass} worker class`);
    settings.workerClass = workerClass;
  }
  if (commandLine.configFile) log.debug(`Config file: ${commandLine.configFile.path}`);

  let worker: ResolvedWorker;
  try {
    worker = await resolveWorker(settings.workerClass, [settings.chdir, OWN_DIR]);
    worker.workerClass.checkConfig?.(settings, log);
    checkSticky(settings, worker.workerClass);
  } catch (error) {
    log.error(error instanceof Error ? error.message : String(error));
    if (!isKelpieError(error)) log.error('Stack:', error);
    return isKelpieError(error) ? exitCodeOf(error) : ExitCode.WORKER_BOOT_ERROR;
  }

  // TLS files are read here, before anything is bound: a missing file or a key that does not
  // match its certificate stops kelpie with the reason.
  let tls: TlsMaterial | undefined;
  try {
    tls = loadTlsMaterial(settings);
  } catch (error) {
    log.error(error instanceof Error ? error.message : String(error));
    return exitCodeOf(error);
  }

  if (settings.checkConfig || settings.preload) {
    // Load the app here, as every worker will: a broken app fails now, before anything is bound.
    // An app that starts its own server listens here too: captured, never bound, its address()
    // the binds to come; its signal listeners never run here (SPEC.md 1.11).
    const capture = startListenCapture({
      log,
      urls: settings.bind.map((text) => formatAddress(parseBind(text))),
      extraListen: settings.extraListen,
    });
    const appSignals = routeAppSignals();
    // The app runs as the main module, as in a worker; the arbiter's own argv[1] (kelpie) is put
    // back for USR2 and --daemon.
    const self = process.argv[1];
    try {
      await loadApp(appModule, settings.chdir, {
        asMain: true,
        capture,
        log,
        listenWait: settings.timeout > 0 ? settings.timeout : 30,
      });
    } catch (error) {
      log.error(error instanceof Error ? error.message : String(error), isKelpieError(error) ? error.cause : error);
      return exitCodeOf(error);
    } finally {
      // kelpie's own servers (control socket, metrics) and signal handlers work as usual from here on.
      capture.dispose();
      appSignals.restore();
      process.argv[1] = self as string;
    }
    if (settings.checkConfig) {
      stdout.write(
        `Configuration OK: ${commandLine.configFile ? `config file ${commandLine.configFile.path}, ` : ''}worker class ${worker.meta.name}, app ${appModule}\n`,
      );
      return ExitCode.OK;
    }
    log.info(`Preloaded ${appModule}`);
  }

  // HUP reads the configuration again, from the directory kelpie started in, with the same
  // command line and environment.
  let applied = settings;
  const reconfigure = async (): Promise<Reconfiguration> => {
    const next = await resolveConfiguration(argv, originalEnv, startDir);
    next.settings.workerClass = effectiveWorkerClass(next.settings);
    // The running class checks the new settings as it did at start (-k sync refuses HTTP/2);
    // a refusal keeps the running configuration. A new class needs a restart anyway.
    worker.workerClass.checkConfig?.({ ...next.settings, workerClass: settings.workerClass }, log);
    const nextTls = loadTlsMaterial(next.settings);
    // As Gunicorn does: variables set by the previous -e go back to what they were, then the new
    // -e values are set; new workers inherit the result.
    for (const pair of applied.env) {
      const name = pair.slice(0, pair.indexOf('='));
      if (originalEnv[name] === undefined) delete process.env[name];
      else process.env[name] = originalEnv[name];
    }
    setEnvironment(next.settings.env);
    applied = next.settings;
    return { settings: next.settings, hooks: next.hooks, configFile: next.configFile?.path, tls: nextTls };
  };

  const arbiter = new Arbiter({
    settings,
    appModule,
    worker,
    log,
    searchFrom: [settings.chdir, OWN_DIR],
    hooks: commandLine.hooks,
    configFile: commandLine.configFile?.path,
    reconfigure,
    tls,
    reexec: {
      execPath: process.execPath,
      args: [...process.execArgv, process.argv[1] as string, ...argv],
      cwd: startDir,
      env: originalEnv,
    },
    onListening: daemonChild
      ? () => {
          process.send?.({ type: 'kelpie:daemon-ready' });
          process.disconnect?.();
        }
      : undefined,
  });
  try {
    return await arbiter.run();
  } catch (error) {
    log.error(error instanceof Error ? error.message : String(error), isKelpieError(error) ? undefined : error);
    return exitCodeOf(error);
  }
}
