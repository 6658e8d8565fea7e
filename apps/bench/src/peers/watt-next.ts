/**
 * Platformatic Watt running the bench's Next.js app (apps/next) with its Next.js capability,
 * `@platformatic/next`, in standalone mode: Watt's workers are threads of one process, and since
 * Next's standalone server.js calls process.chdir() (which threads may not), the capability starts
 * the same standalone server the way server.js would, in each thread, binding with SO_REUSEPORT.
 * wattpm and the capability come from npm into the bench's cache folder (Node >= 22.19). The config
 * is written into the app's folder for the run (Watt takes the Next.js root from it) and removed.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nextAppDir } from '../next-app.js';
import type { Peer } from '../types.js';
import { atLeast, benchNode } from './node-runtime.js';
import { ensureNpmFolder } from './npm-cache.js';
import { startServer } from './spawn.js';
import { assertSupports } from './supports.js';

/**
 * @platformatic/next's newest release on npm (it is published less often than wattpm), and wattpm
 * at the same release: a runtime and its capabilities are released together. The capability
 * imports @platformatic/job-queue without depending on it, so it is installed beside.
 */
export const WATT_NEXT_VERSION = '3.54.0';
const MIN_NODE: [number, number] = [22, 19];
const WATT_CLI = join('node_modules', 'wattpm', 'bin', 'cli.js');
const READY_LINE = /Platformatic is now listening at/;
const CONFIG = join(nextAppDir, 'watt.json');

const install = () =>
  ensureNpmFolder(
    `watt-next-${WATT_NEXT_VERSION}`,
    [`wattpm@${WATT_NEXT_VERSION}`, `@platformatic/next@${WATT_NEXT_VERSION}`, '@platformatic/job-queue@0.5.0'],
    WATT_CLI,
  );

/** The capability's config: the standalone build, on 127.0.0.1:port, with `workers` threads. */
export function wattNextConfig(port: number, workers: number): Record<string, unknown> {
  return {
    $schema: `https://schemas.platformatic.dev/@platformatic/next/${WATT_NEXT_VERSION}.json`,
    next: { standalone: true },
    server: { hostname: '127.0.0.1', port },
    runtime: { workers, logger: { level: 'info' } },
  };
}

export const wattNext: Peer = {
  name: 'watt-next',
  label: `Platformatic Watt ${WATT_NEXT_VERSION} (@platformatic/next)`,
  prepare: async () => (await install()).reason,
  start: async ({ scenario, workers, port, env, node = benchNode }) => {
    assertSupports('watt-next', scenario, { apps: ['next-standalone'] });
    if (!atLeast(node.version, ...MIN_NODE)) {
      throw new Error(`Watt needs Node >= ${MIN_NODE.join('.')}; this scenario runs on ${node.version}`);
    }
    const { dir, reason } = await install();
    if (dir === undefined) throw new Error(reason);
    await writeFile(CONFIG, `${JSON.stringify(wattNextConfig(port, workers), null, 2)}\n`);
    return startServer({
      name: 'watt-next',
      command: node.path,
      args: [join(dir, WATT_CLI), 'start'],
      env: { ...env, PORT: String(port) },
      cwd: nextAppDir,
      port,
      scenario,
      until: (server) => READY_LINE.test(server.output()),
      cleanup: () => rm(CONFIG, { force: true }),
    });
  },
};
