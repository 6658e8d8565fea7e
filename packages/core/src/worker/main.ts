import module from 'node:module';
import { ExitCode } from '../exit-codes.js';
import { listenOnSparesFromEnv } from './listen-spares.js';

/**
 * Entry script of every worker process. The arbiter spawns it with an IPC channel and the
 * listening sockets as extra descriptors, then sends one boot message (Node keeps it until
 * boot.ts listens for it).
 *
 * Node's compile cache (Node >= 22.1) goes on before anything else loads, so the worker's code,
 * its worker class and the app are read from the cache the arbiter and earlier workers filled:
 * NODE_COMPILE_CACHE's folder, else Node's default in the temporary folder; none at all with
 * NODE_DISABLE_COMPILE_CACHE=1 (Node reads both). On Node 20 there is no cache and nothing changes.
 */
// Typed here: @types/node 20 does not know it yet.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

if (!process.send) {
  process.stderr.write('kelpie: worker-main is started by the kelpie arbiter, not by hand.\n');
  process.exit(ExitCode.USAGE);
}

// The first worker puts the sockets to listen(2) before loading anything (SPEC.md 3.1).
listenOnSparesFromEnv();

// Imported, not static imports: those would be compiled before enableCompileCache() runs. One
// import, so the bundle puts the runtime and its boot into one file: on Node 20, with no compile
// cache, every file loaded at start costs a worker its own resolve, read and link.
void import('./runtime.js').then(({ receiveBootMessage, runWorkerProcess }) =>
  receiveBootMessage((boot) => void runWorkerProcess(boot)),
);
