/**
 * Platformatic Watt (`wattpm start`) running an app as a Watt "node" application: the unchanged
 * apps/listen/server.js, or for the plain handlers and the Express app apps/watt-server.mjs, which
 * serves them with node:http and listens by itself. Its workers are threads of one process, each
 * binding the port with SO_REUSEPORT after Watt rewrites the app's own listen() to the configured
 * host and port. wattpm and
 * @platformatic/node come from npm into the bench's cache folder (they need Node >= 22.19, newer
 * than the workspace supports), and the config is written to a temporary folder beside them, so
 * Watt resolves its capability package from there and the repository gets no file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppKind, Peer } from '../types.js';
import { atLeast, benchNode } from './node-runtime.js';
import { ensureNpmFolder } from './npm-cache.js';
import { appFile, appsDir, LISTENING_APPS } from './paths.js';
import { startServer } from './spawn.js';
import { assertSupports } from './supports.js';

/** wattpm and @platformatic/node at the same release (the newest one both are published at). */
export const WATT_VERSION = '3.65.0';
/** Watt's `engines`. */
const MIN_NODE: [number, number] = [22, 19];
const WATT_CLI = join('node_modules', 'wattpm', 'bin', 'cli.js');
/** Logged at info level once every worker has started and the entrypoint listens. */
const READY_LINE = /Platformatic is now listening at/;
/**
 * What Watt's node capability runs as a black box: the apps that listen by themselves, and the
 * request-listener apps through a file that listens for them.
 */
const APPS: AppKind[] = ['plain', 'express', ...LISTENING_APPS];
export const wattMain = (kind: AppKind): string =>
  LISTENING_APPS.includes(kind) ? appFile(kind) : join(appsDir, 'watt-server.mjs');

const install = () =>
  ensureNpmFolder(`watt-${WATT_VERSION}`, [`wattpm@${WATT_VERSION}`, `@platformatic/node@${WATT_VERSION}`], WATT_CLI);

export interface WattConfigOptions {
  /** The app file, run unchanged; its own listen() is rewritten to `port` on 127.0.0.1. */
  main: string;
  port: number;
  workers: number;
}

/**
 * A Watt config for one "node" application (the single-application form, with the runtime's
 * options under `runtime`). Everything else is Watt's default.
 */
export function wattConfig({ main, port, workers }: WattConfigOptions): Record<string, unknown> {
  return {
    $schema: `https://schemas.platformatic.dev/@platformatic/node/${WATT_VERSION}.json`,
    node: { main },
    server: { hostname: '127.0.0.1', port },
    runtime: { workers, logger: { level: 'info' } },
  };
}

export const watt: Peer = {
  name: 'watt',
  label: `Platformatic Watt ${WATT_VERSION}`,
  prepare: async () => (await install()).reason,
  start: async ({ scenario, workers, port, env, node = benchNode }) => {
    assertSupports('watt', scenario, { apps: APPS });
    if (!atLeast(node.version, ...MIN_NODE)) {
      throw new Error(`Watt needs Node >= ${MIN_NODE.join('.')}; this scenario runs on ${node.version}`);
    }
    const { dir, reason } = await install();
    if (dir === undefined) throw new Error(reason);
    const runDir = await mkdtemp(join(dir, 'run-'));
    const cleanup = () => rm(runDir, { recursive: true, force: true });
    await writeFile(
      join(runDir, 'watt.json'),
      `${JSON.stringify(wattConfig({ main: wattMain(scenario.app), port, workers }), null, 2)}\n`,
    ).catch(async (error: unknown) => {
      await cleanup();
      throw error;
    });
    return startServer({
      name: 'watt',
      command: node.path,
      args: [join(dir, WATT_CLI), 'start'],
      env: { ...env, PORT: String(port), BENCH_APP: scenario.app },
      cwd: runDir,
      port,
      scenario,
      until: (server) => READY_LINE.test(server.output()),
      cleanup,
    });
  },
};
