import { ExitCode } from '../exit-codes.js';
import type { BootMessage } from '../ipc/protocol.js';
import { runWorkerProcess } from './runtime.js';

/**
 * Entry script of every worker process. The arbiter spawns it with an IPC channel and the
 * listening sockets as extra descriptors, then sends one boot message.
 */
if (!process.send) {
  process.stderr.write('kelpie: worker-main is started by the kelpie arbiter, not by hand.\n');
  process.exit(ExitCode.USAGE);
}

// The arbiter sends the boot message right after spawning; a worker that never gets one (a
// program embedding core wrongly) must not linger.
const BOOT_WAIT_MS = 30_000;
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
  void runWorkerProcess(message);
});
