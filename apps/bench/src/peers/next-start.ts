/**
 * `next start`: Next.js's own production server for the app the bench built (apps/next), as
 * its docs run it, on the scenario's Node. One process: Next has no workers of its own, so this
 * side shows what one process serves, beside kelpie and the others with two.
 */
import { join } from 'node:path';
import { nextAppDir } from '../next-app.js';
import type { Peer } from '../types.js';
import { benchNode } from './node-runtime.js';
import { startServer } from './spawn.js';
import { assertSupports } from './supports.js';

/** Next prints it once its server listens. */
const READY_LINE = /Ready in/;

export const nextStart: Peer = {
  name: 'next-start',
  label: 'next start (1 process)',
  prepare: async () => undefined,
  start: async ({ scenario, port, env, node = benchNode }) => {
    assertSupports('next-start', scenario, { apps: ['next-standalone'] });
    return startServer({
      name: 'next-start',
      command: node.path,
      args: [
        join(nextAppDir, 'node_modules', 'next', 'dist', 'bin', 'next'),
        'start',
        '-p',
        String(port),
        '-H',
        '127.0.0.1',
      ],
      env,
      cwd: nextAppDir,
      port,
      scenario,
      until: (server) => READY_LINE.test(server.output()),
    });
  },
};
