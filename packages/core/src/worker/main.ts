import { ExitCode } from '../exit-codes.js';
import { receiveBootMessage } from './boot.js';
import { runWorkerProcess } from './runtime.js';

/**
 * Entry script of every worker process. The arbiter spawns it with an IPC channel and the
 * listening sockets as extra descriptors, then sends one boot message.
 */
if (!process.send) {
  process.stderr.write('kelpie: worker-main is started by the kelpie arbiter, not by hand.\n');
  process.exit(ExitCode.USAGE);
}

receiveBootMessage((boot) => void runWorkerProcess(boot));
