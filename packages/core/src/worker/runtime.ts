import { loadServingFeatures } from '../http/serving-features.js';
import type { BootMessage } from '../ipc/protocol.js';
import { readAheadOf } from '../ipc/read-ahead.js';
import { errorLogSink, Logger } from '../observability/logger.js';
import { constructWorker, loadWorkerApp, startServing } from './boot.js';
import { createChannel, receiveConnections } from './channel.js';
import { handleCrashes } from './crashes.js';
import { maxRequestsReached } from './graceful-stop.js';
import { reportHeartbeats } from './heartbeat.js';
import { giveBack, HeldConnection } from './held-connection.js';
import { handleWorkerSignals } from './signals.js';
import { WorkerProcess } from './worker-process.js';

// For the bundle only: a worker process loads core's index anyway (its worker class imports
// it). Reaching it from here as well gives the index the same set of entries as the modules only
// workers load, so esbuild keeps them in one chunk (see optional-modules.ts) rather than
// emitting one more (empty) file for the index itself.
export { VERSION as CORE_VERSION } from '../index.js';
// main.ts takes both from this one file (one dynamic import).
export { receiveBootMessage } from './boot.js';

/**
 * The worker process's side of the lifecycle, put together from its pieces in the order they
 * start: signals (signals.ts) and crashes (crashes.ts) first, then the channel to the arbiter
 * (channel.ts) and the heartbeat (heartbeat.ts), then the boot (boot.ts) up to serving; stops go
 * through graceful-stop.ts. Worker classes never see this; they implement the contract in worker.ts.
 */

export async function runWorkerProcess(boot: BootMessage): Promise<void> {
  const { settings } = boot;
  const log = new Logger(settings.logLevel, errorLogSink(settings.errorLogfile), settings.logFormat);
  const title = settings.procName ?? boot.appModule;
  process.title = `kelpie: worker [${title}]`;
  log.info(`Booting worker with pid: ${process.pid}`);
  const proc = new WorkerProcess(boot, log);
  handleWorkerSignals(proc);
  handleCrashes(proc);
  const channel = createChannel(() => maxRequestsReached(proc));
  // The class and the listener a connection from the arbiter is for: none before the class is built.
  const servedBy = (index: number) => {
    const listener = boot.listeners[index];
    return proc.worker && listener ? { worker: proc.worker, listener } : undefined;
  };
  receiveConnections(
    (socket, message) => {
      const to = servedBy(message.listener);
      if (to) to.worker.connection(socket, to.listener, readAheadOf(message.read));
      else socket.destroy();
    },
    (handle, message) => {
      const to = servedBy(message.listener);
      if (!to) giveBack(handle, message.held);
      else {
        const { worker, listener } = to;
        worker.hold(
          new HeldConnection(listener, handle, message.held, (socket) => worker.connection(socket, listener)),
        );
      }
    },
  );
  proc.finalReport = reportHeartbeats(proc);

  // The access log, StatsD and PROXY protocol modules, when the settings turn them on: in before
  // the worker class serves (http/serving-features.ts).
  await loadServingFeatures(settings);
  if (!(await constructWorker(proc, boot, channel))) return;
  if (!(await loadWorkerApp(proc))) return;
  await startServing(proc);
}
