import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Logger } from '@kelpie/core';
import { type Pid1Action, signalsFor } from '@kelpie/core/internal';

/**
 * kelpie as PID 1 (a container started without `--init`). PID 1 inherits every orphaned process
 * and must reap it, but Node can only wait for the children it spawned itself: processes an app
 * leaves behind (a shell's background job) would stay zombies. So when kelpie finds itself PID 1
 * and `tini` is installed, it runs the real kelpie under `tini -s` (a child subreaper, which
 * reaps whatever ends up under it), passes signals on to kelpie's arbiter and exits with its
 * status.
 * Without tini it serves anyway and says what to do.
 */

/** The first child of `pid` (Linux /proc), if any. */
function firstChild(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

function findOnPath(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * When this process is PID 1: run kelpie under tini and resolve with its exit status; undefined
 * when kelpie should go on in this process (not PID 1, or no tini).
 */
export async function runAsInit(argv: readonly string[], log: Logger): Promise<number | undefined> {
  if (process.pid !== 1 || process.env.KELPIE_UNDER_INIT) return undefined;
  const tini = findOnPath('tini');
  if (!tini) {
    log.warning(
      'kelpie runs as PID 1 without an init: processes the app leaves behind will not be reaped. Install tini (apt-get install tini) or start the container with --init.',
    );
    return undefined;
  }
  log.info(`Running as PID 1: starting kelpie under ${tini} -s, which reaps orphaned processes`);
  // Sockets a runtime activated for PID 1 (LISTEN_FDS, LISTEN_PID=1) go on to the arbiter, which
  // accepts LISTEN_PID=1 under KELPIE_UNDER_INIT.
  const activated = process.env.LISTEN_PID === '1' ? Number(process.env.LISTEN_FDS) || 0 : 0;
  const child = spawn(tini, ['-s', '--', process.execPath, ...process.execArgv, process.argv[1] as string, ...argv], {
    stdio: ['inherit', 'inherit', 'inherit', ...Array.from({ length: activated }, (_, i) => 3 + i)],
    env: { ...process.env, KELPIE_UNDER_INIT: '1' },
  });
  // Straight to the arbiter (tini's child): tini itself does not pass TTIN and TTOU on.
  const arbiter = () => firstChild(child.pid as number) ?? (child.pid as number);
  // What PID 1 does with each signal it handles: the signals table's `pid1` column.
  const actions: Record<Exclude<Pid1Action, 'default'>, (signal: NodeJS.Signals) => void> = {
    forward: (signal) => {
      try {
        process.kill(arbiter(), signal);
      } catch {
        // Gone already; its exit ends this process.
      }
    },
    'refuse-upgrade': () => {
      // The old arbiter is tini's child: once it exits, tini, this process and the container
      // end, taking the new arbiter with them. A new container is the upgrade here.
      log.warning(
        'USR2 ignored: kelpie runs as PID 1, where the old arbiter leaving would end the container; roll out a new container instead',
      );
    },
  };
  const handlers = signalsFor('pid1').map(([signal, action]) => {
    const handler = () => actions[action](signal);
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return new Promise((resolve) => {
    child.once('error', (error) => {
      log.error(`Could not start ${tini}: ${error.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      for (const [name, handler] of handlers) process.off(name, handler);
      resolve(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1));
    });
  });
}
