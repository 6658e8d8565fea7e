/**
 * kelpie itself: the workspace's `kelpie` bin, serving the scenario's app file directly. The
 * arbiter logs `Ready: N worker(s) serving` (INFO, so the log level stays at its default) once
 * every worker has booted; one 200 on the path alone could come from the first worker up.
 */
import type { Peer } from '../types.js';
import { appFile, packageFile } from './paths.js';
import { startServer } from './spawn.js';

const READY_LINE = /Ready: \d+ workers? serving/;

export const kelpie: Peer = {
  name: 'kelpie',
  label: 'kelpie',
  prepare: async () => undefined,
  start: ({ scenario, workers, port, env }) =>
    startServer({
      name: 'kelpie',
      command: process.execPath,
      args: [
        packageFile('kelpie', 'bin/kelpie.js'),
        '-w',
        String(workers),
        '-b',
        `127.0.0.1:${port}`,
        appFile(scenario.app),
      ],
      env,
      port,
      scenario,
      until: (server) => READY_LINE.test(server.output()),
    }),
};
