import { fileURLToPath } from 'node:url';
import {
  Arbiter,
  VERSION as CORE_VERSION,
  ExitCode,
  effectiveWorkerClass,
  exitCodeOf,
  helpText,
  isKelpieError,
  Logger,
  parseCommandLine,
  type ResolvedWorker,
  resolveWorker,
  type Settings,
} from '@kelpie/core';
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;

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

/** Apply -e/--env and --chdir to this process, so the workers it spawns inherit them. */
function applyProcessSettings(settings: Settings): void {
  for (const pair of settings.env) {
    const eq = pair.indexOf('=');
    process.env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  process.chdir(settings.chdir);
}

/**
 * Run the kelpie command line; resolves with the process exit status (0 after a clean stop,
 * 2 for usage errors, 3 when workers cannot boot, 4 when the app cannot be loaded).
 */
export async function main(argv: readonly string[], io: MainIO = {}): Promise<number> {
  const env = io.env ?? process.env;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;

  let commandLine: ReturnType<typeof parseCommandLine>;
  try {
    commandLine = parseCommandLine(argv, env);
  } catch (error) {
    if (isKelpieError(error)) return usageError(error.message, stderr);
    throw error;
  }
  if (commandLine.help) {
    stdout.write(helpText());
    return ExitCode.OK;
  }
  if (commandLine.version) {
    stdout.write(`kelpie (version ${VERSION}, @kelpie/core ${CORE_VERSION})\n`);
    return ExitCode.OK;
  }
  if (!commandLine.appModule) return usageError('No application module specified (APP_MODULE).', stderr);

  const { settings } = commandLine;
  const log = new Logger(settings.logLevel);
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

  let worker: ResolvedWorker;
  try {
    worker = await resolveWorker(settings.workerClass, [settings.chdir, OWN_DIR]);
    worker.workerClass.checkConfig?.(settings, log);
  } catch (error) {
    log.error(error instanceof Error ? error.message : String(error));
    if (!isKelpieError(error)) log.error('Stack:', error);
    return isKelpieError(error) ? exitCodeOf(error) : ExitCode.WORKER_BOOT_ERROR;
  }

  const arbiter = new Arbiter({
    settings,
    appModule: commandLine.appModule,
    worker,
    log,
    searchFrom: [settings.chdir, OWN_DIR],
  });
  try {
    return await arbiter.run();
  } catch (error) {
    log.error(error instanceof Error ? error.message : String(error), isKelpieError(error) ? undefined : error);
    return exitCodeOf(error);
  }
}
