import { ExitCode } from './exit-codes.js';
import type { BootMessage } from './messages.js';
import { runWorkerProcess } from './worker-process.js';

/**
 * Entry script of every worker process. The arbiter spawns it with an IPC channel and the
 * listening sockets as extra descriptors, then sends one boot message.
 */
if (!process.send) {
  process.stderr.write('kelpie: worker-main is started by the kelpie arbiter, not by hand.\n');
  process.exit(ExitCode.USAGE);
}

process.once('message', (message: BootMessage) => {
  if (message?.type !== 'kelpie:boot') {
    process.stderr.write(`kelpie: unexpected first message from the arbiter: ${JSON.stringify(message)}\n`);
    process.exit(ExitCode.WORKER_BOOT_ERROR);
  }
  void runWorkerProcess(message);
});
