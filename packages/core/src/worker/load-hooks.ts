import { loadConfigFile } from '../config/config-file.js';
import type { ServerHooks } from '../config/hooks.js';
import type { Logger } from '../observability/logger.js';

/**
 * The config file's hooks where they run. Functions cannot cross IPC or a thread boundary, so a
 * worker process (for its worker hooks) and each app thread of -k threads (for the request hooks)
 * load the file again themselves.
 */

/** Who loads the hooks, for the log line of a failure. */
const LOADERS = {
  worker: { hooks: 'worker hooks', runs: 'this worker' },
  thread: { hooks: 'request hooks', runs: 'this thread' },
} as const;

/**
 * The hooks of config file `file`, or undefined if it no longer loads. The file loaded in the
 * arbiter; if it does not now (edited since), serving matters more than the hooks: failing here
 * would make every replacement fail the same way. The failure is logged.
 */
export async function loadHooks(
  file: string,
  log: Logger,
  loader: keyof typeof LOADERS,
): Promise<ServerHooks | undefined> {
  try {
    return (await loadConfigFile(file)).hooks;
  } catch (error) {
    const { hooks, runs } = LOADERS[loader];
    log.error(`Could not load the ${hooks} from ${file}; ${runs} runs without them`, error);
    return undefined;
  }
}
