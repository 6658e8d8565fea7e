/**
 * kelpie itself: the workspace's `kelpie` bin, serving the scenario's app file directly, with the
 * scenario's worker-class flags (`kelpieArgs`), its access log (`accessLog`, to a temporary file)
 * and its TLS flags when the scenario serves TLS. The arbiter logs `Ready: N worker(s) serving`
 * (INFO, so the log level stays at its default) once every worker has booted; one 200 on the
 * path alone could come from the first worker up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Peer, PeerName, Scenario } from '../types.js';
import { appFile, packageFile } from './paths.js';
import { startServer } from './spawn.js';

const READY_LINE = /Ready: \d+ workers? serving/;

function tlsArgs({ tls }: Scenario): string[] {
  if (!tls) return [];
  return ['--certfile', tls.cert, '--keyfile', tls.key, '--http-protocols', tls.protocols];
}

/**
 * A kelpie side. `baseline`: flags that replace the scenario's own (worker class and access log),
 * for the side a scenario's kelpie is compared with.
 */
function kelpiePeer(name: PeerName, label: string, baseline?: string[]): Peer {
  return {
    name,
    label,
    prepare: async () => undefined,
    start: async ({ scenario, workers, port, env }) => {
      const logDir =
        !baseline && scenario.accessLog ? await mkdtemp(join(tmpdir(), 'kelpie-bench-access-log-')) : undefined;
      return startServer({
        name,
        command: process.execPath,
        args: [
          packageFile('kelpie', 'bin/kelpie.js'),
          ...(baseline ?? scenario.kelpieArgs ?? []),
          ...(logDir ? ['--access-logfile', join(logDir, 'access.log')] : []),
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
        ...(logDir ? { cleanup: () => rm(logDir, { recursive: true, force: true }) } : {}),
      });
    },
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
/** What the access-log and metrics scenarios compare with: kelpie's defaults (async, no log, no metrics). */
export const kelpieBaseline = kelpiePeer('kelpie-baseline', 'kelpie with its defaults', []);
