/**
 * kelpie itself: the workspace's `kelpie` bin, serving the scenario's app file directly (for an
 * app that calls its own listen(), that file unchanged), with the scenario's worker-class flags
 * (`kelpieArgs`), its access log (`accessLog`, to a temporary file) and its TLS flags when the
 * scenario serves TLS, on the scenario's Node. The arbiter logs `Ready: N worker(s) serving`
 * (INFO, so the log level stays at its default) once every worker has booted; one 200 on the
 * path alone could come from the first worker up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Peer, PeerName, Scenario } from '../types.js';
import { benchNode } from './node-runtime.js';
import { appFile, exportedTwin, packageFile } from './paths.js';
import { startServer } from './spawn.js';

const READY_LINE = /Ready: \d+ workers? serving/;

function tlsArgs({ tls }: Scenario): string[] {
  if (!tls) return [];
  return ['--certfile', tls.cert, '--keyfile', tls.key, '--http-protocols', tls.protocols];
}

interface Variant {
  /** Flags that replace the scenario's own (worker class and access log): a baseline kelpie. */
  baseline?: string[];
  /** The app file to serve instead of the scenario's own. */
  file?: (scenario: Scenario) => string;
}

/** A kelpie side: the scenario's kelpie, or a variant it is compared with. */
function kelpiePeer(name: PeerName, label: string, { baseline, file }: Variant = {}): Peer {
  return {
    name,
    label,
    prepare: async () => undefined,
    start: async ({ scenario, workers, port, env, node = benchNode }) => {
      const logDir =
        !baseline && scenario.accessLog ? await mkdtemp(join(tmpdir(), 'kelpie-bench-access-log-')) : undefined;
      return startServer({
        name,
        command: node.path,
        args: [
          packageFile('kelpie', 'bin/kelpie.js'),
          ...(baseline ?? scenario.kelpieArgs ?? []),
          ...(logDir ? ['--access-logfile', join(logDir, 'access.log')] : []),
          ...tlsArgs(scenario),
          '-w',
          String(workers),
          '-b',
          `127.0.0.1:${port}`,
          file ? file(scenario) : appFile(scenario.app),
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
export const kelpieThreads1 = kelpiePeer('kelpie-threads-1', 'kelpie -k threads --threads 1', {
  baseline: ['-k', 'threads', '--threads', '1'],
});
/** What the access-log and metrics scenarios compare with: kelpie's defaults (async, no log, no metrics). */
export const kelpieBaseline = kelpiePeer('kelpie-baseline', 'kelpie with its defaults', { baseline: [] });
/**
 * The reference for an app that calls its own listen(): the same app exported (`module.exports =
 * app`), so the ratio against it is what serving the app's own server costs over serving the app.
 */
export const kelpieExport = kelpiePeer('kelpie-export', 'kelpie, the same app exported (reference)', {
  file: (scenario) => {
    const twin = exportedTwin(scenario.app);
    if (!twin) throw new Error(`kelpie-export serves only apps that listen by themselves, not ${scenario.app}`);
    return twin;
  },
});
