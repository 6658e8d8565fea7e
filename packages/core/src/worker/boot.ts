import { pathToFileURL } from 'node:url';
import { routeAppSignals } from '../app/signals.js';
import { runHook } from '../config/hooks.js';
import { exitCodeOf, isKelpieError, KelpieError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import type { BootMessage } from '../ipc/protocol.js';
import { send } from './channel.js';
import { stopWorker } from './graceful-stop.js';
import { loadHooks } from './load-hooks.js';
import { isWorkerClass, type WorkerChannel, type WorkerClass } from './worker.js';
import { messageOf, type WorkerProcess } from './worker-process.js';

/**
 * Booting a worker process, up to kelpie:ready: the arbiter's boot message, the config file's
 * worker hooks, the worker class the message names and its instance, the app it loads, the
 * postWorkerInit hook and serve(). A failure exits with the status its error says (SPEC.md 2.8).
 * Each step answers whether the boot goes on: false once the process is exiting or stopping.
 */

// The arbiter sends the boot message right after spawning; a worker that never gets one (a
// program embedding core wrongly) must not linger.
const BOOT_WAIT_MS = 30_000;

/** Wait for the arbiter's boot message and hand it to `run`, in the tick it arrives. */
export function receiveBootMessage(run: (boot: BootMessage) => void): void {
  const noBoot = setTimeout(() => {
    process.stderr.write(`kelpie: no boot message from the arbiter within ${BOOT_WAIT_MS / 1000} s; exiting.\n`);
    process.exit(ExitCode.WORKER_BOOT_ERROR);
  }, BOOT_WAIT_MS);
  noBoot.unref();
  process.once('message', (message: BootMessage) => {
    clearTimeout(noBoot);
    if (message?.type !== 'kelpie:boot') {
      process.stderr.write(`kelpie: unexpected first message from the arbiter: ${JSON.stringify(message)}\n`);
      process.exit(ExitCode.WORKER_BOOT_ERROR);
    }
    run(message);
  });
}

async function importWorkerClass(boot: BootMessage): Promise<WorkerClass> {
  const mod = (await import(pathToFileURL(boot.workerModule).href)) as Record<string, unknown>;
  const cls = mod[boot.workerExport];
  if (!isWorkerClass(cls)) {
    throw new KelpieError(
      'KELPIE_ERR_WORKER_INVALID',
      `${boot.workerModule} export "${boot.workerExport}" is not a worker class in this process`,
    );
  }
  return cls;
}

/** The worker hooks, the worker class and its instance (`proc.worker`). */
export async function constructWorker(
  proc: WorkerProcess,
  boot: BootMessage,
  channel: WorkerChannel,
): Promise<boolean> {
  const { settings, log } = proc;
  try {
    if (boot.workerHooks && boot.configFile) proc.hooks = (await loadHooks(boot.configFile, log, 'worker')) ?? {};
    const WorkerClassCtor = await importWorkerClass(boot);
    proc.worker = new WorkerClassCtor({
      settings,
      log,
      age: boot.age,
      appModule: boot.appModule,
      cwd: settings.chdir,
      listeners: boot.listeners,
      channel,
      searchFrom: boot.searchFrom,
      hooks: proc.hooks,
      configFile: boot.configFile,
    });
    return true;
  } catch (error) {
    log.error(`Exception in worker process: ${messageOf(error)}`, isKelpieError(error) ? undefined : error);
    proc.exit(isKelpieError(error) ? exitCodeOf(error) : ExitCode.WORKER_BOOT_ERROR);
    return false;
  }
}

/** The worker class loads the app; from here on, the app's listeners for kelpie's signals are kept apart. */
export async function loadWorkerApp(proc: WorkerProcess): Promise<boolean> {
  const { log } = proc;
  proc.appSignals = routeAppSignals();
  proc.loading = true;
  try {
    await proc.worker?.load();
  } catch (error) {
    log.error(messageOf(error), isKelpieError(error) ? error.cause : error);
    proc.exit(isKelpieError(error) ? exitCodeOf(error) : ExitCode.APP_LOAD_ERROR);
    return false;
  } finally {
    proc.loading = false;
  }
  return proc.phase === 'booting';
}

/** postWorkerInit, then serve(); once it resolves the worker is ready (kelpie:ready). */
export async function startServing(proc: WorkerProcess): Promise<void> {
  const { log } = proc;
  // Waited for up to KELPIE_CONFIG_TIMEOUT; a throw is logged and the worker serves regardless.
  await runHook(proc.hooks, 'postWorkerInit', log, proc.view());
  if (proc.phase !== 'booting') return;
  proc.serveStarted = true;
  try {
    await proc.worker?.serve();
  } catch (error) {
    log.error(`Worker failed to serve: ${messageOf(error)}`, error);
    proc.exit(ExitCode.WORKER_BOOT_ERROR);
    return;
  }
  if (proc.phase !== 'booting') return;
  proc.phase = 'serving';
  send({ type: 'kelpie:ready' });
  if (proc.recycleWhenServing) void stopWorker(proc, true, ExitCode.OK, 'max_requests');
}
