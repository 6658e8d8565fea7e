/**
 * The bench's real page: apps/next, a Next.js app (its own package.json and package-lock.json,
 * outside the pnpm workspace, so `pnpm install` never downloads Next) built with `output:
 * 'standalone'`. Installed (`npm ci`) and built (`next build`, about a minute) in place, only when
 * a scenario needs it and only when its lockfile or sources changed since the last time (stamp
 * files hold their hashes); at most once per run. The bench never builds it during tests.
 */

import { join } from 'node:path';
import { BuildEntryMissing, buildOnce, installOnce, NpmFailed } from '@kelpie/testkit/npm-app';
import { npmReason } from './peers/npm-cache.js';
import { appsDir } from './peers/paths.js';

export const nextAppDir = join(appsDir, 'next');
/** What `next build` writes and the bench must serve. */
export const NEXT_STANDALONE_SERVER = join('.next', 'standalone', 'server.js');
/** Not sources: what the build writes, and what a Watt run writes for itself (its config, a cache folder). */
export const NEXT_NOT_SOURCES = ['.next', 'watt.json', 'cache'];
const NPM_TIMEOUT_MS = 10 * 60_000;

async function installAndBuild(dir: string): Promise<void> {
  await installOnce(dir, {
    timeoutMs: NPM_TIMEOUT_MS,
    onStart: () => console.log(`bench: installing the Next.js app's dependencies (npm ci in ${dir})...`),
  });
  await buildOnce(dir, {
    entry: NEXT_STANDALONE_SERVER,
    ignore: NEXT_NOT_SOURCES,
    timeoutMs: NPM_TIMEOUT_MS,
    onStart: () => console.log(`bench: building the Next.js app (next build in ${dir}, about a minute)...`),
  });
}

/** Why the app cannot be served, on one line, from what the install or the build threw. */
export function notBuiltReason(error: Error): string {
  if (error instanceof NpmFailed) {
    const cause = error.cause as NodeJS.ErrnoException;
    if (cause.code === 'ENOENT') return 'npm is not available';
    return `npm ${error.args.join(' ')} failed: ${npmReason(`${error.stdout}\n${error.stderr}`) || cause.message}`;
  }
  if (error instanceof BuildEntryMissing) return `next build did not write ${error.entry}`;
  return error.message.split('\n')[0] ?? '';
}

let prepared: Promise<string | undefined> | undefined;

/** Installs and builds apps/next when needed, once per run; resolves with why it cannot be served, or undefined. */
export function prepareNextApp(): Promise<string | undefined> {
  prepared ??= installAndBuild(nextAppDir).then(
    () => undefined,
    (error: Error) => `the Next.js app is not built: ${notBuiltReason(error)}`,
  );
  return prepared;
}
