/**
 * kelpie itself: the workspace's `kelpie` bin, serving the scenario's app file directly, with the
 * scenario's worker-class flags (`kelpieArgs`), and its TLS flags when the scenario serves TLS. The
 * arbiter logs `Ready: N worker(s) serving` (INFO, so the log level stays at its default) once
 * every worker has booted; one 200 on the path alone could come from the first worker up.
 */
import type { Peer, PeerName, Scenario } from '../types.js';
import { appFile, packageFile } from './paths.js';
import { startServer } from './spawn.js';

const READY_LINE = /Ready: \d+ workers? serving/;

function tlsArgs({ tls }: Scenario): string[] {
  if (!tls) return [];
  return ['--certfile', tls.cert, '--keyfile', tls.key, '--http-protocols', tls.protocols];
}

function kelpiePeer(name: PeerName, label: string, fixedArgs?: string[]): Peer {
  return {
    name,
    label,
    prepare: async () => undefined,
    start: ({ scenario, workers, port, env }) =>
      startServer({
        name,
        command: process.execPath,
        args: [
          packageFile('kelpie', 'bin/kelpie.js'),
          ...(fixedArgs ?? scenario.kelpieArgs ?? []),
          ...tlsArgs(scenario),
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
}

export const kelpie = kelpiePeer('kelpie', 'kelpie');
/** The baseline of the thread-scaling scenario: the same worker class with one thread. */
export const kelpieThreads1 = kelpiePeer('kelpie-threads-1', 'kelpie -k threads --threads 1', [
  '-k',
  'threads',
  '--threads',
  '1',
]);
