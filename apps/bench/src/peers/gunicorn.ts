/**
 * Gunicorn, the model kelpie follows, serving apps/wsgi.py (the same routes and work) with sync
 * workers or gthread workers. Debian's gunicorn package is installed when missing. Only the
 * plain app kind has a WSGI twin.
 */

import { ensureCommand, findCommand } from '@kelpie/testkit/apt';
import type { Peer, PeerName } from '../types.js';
import { appsDir } from './paths.js';
import { processTree } from './process-tree.js';
import { startServer } from './spawn.js';
import { assertSupports } from './supports.js';

function gunicornPeer(name: PeerName, label: string, workerArgs: string[]): Peer {
  return {
    name,
    label,
    prepare: () => ensureCommand('gunicorn', 'gunicorn'),
    start: async ({ scenario, workers, port, env }) => {
      assertSupports(name, scenario, { apps: ['plain'] });
      return startServer({
        name,
        command: findCommand('gunicorn') ?? 'gunicorn',
        // No --access-logfile: Gunicorn then writes no access log, like the Node sides.
        args: [
          ...workerArgs,
          '-w',
          String(workers),
          '-b',
          `127.0.0.1:${port}`,
          '--chdir',
          appsDir,
          '--log-level',
          'warning',
          'wsgi:application',
        ],
        // No __pycache__ written into the repository's apps directory.
        env: { ...env, PYTHONDONTWRITEBYTECODE: '1' },
        port,
        scenario,
        // The master binds before forking, so the first 200 may come before every worker is up.
        until: (server) => processTree(server.pid).length > workers,
      });
    },
  };
}

export const gunicornSync = gunicornPeer('gunicorn-sync', 'Gunicorn (sync)', ['-k', 'sync']);
export const gunicornGthread = gunicornPeer('gunicorn-gthread', 'Gunicorn (gthread, 4 threads)', [
  '-k',
  'gthread',
  '--threads',
  '4',
]);
