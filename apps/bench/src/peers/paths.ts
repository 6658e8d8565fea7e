/**
 * Where the bench's app files and the peers' executables are. Paths are found from this module
 * at run time, walking up to the @kelpie/bench package, so they hold both from src/ (tsx) and
 * from the bundled dist/cli.js.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppKind } from '../types.js';

function findBenchRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@kelpie/bench'
    ) {
      return dir;
    }
    if (dirname(dir) === dir) throw new Error(`Cannot find the @kelpie/bench package above ${from}`);
  }
}

const here = dirname(fileURLToPath(import.meta.url));

/** The bench package's root directory. */
export const benchRoot = findBenchRoot(here);

/** The plain-JS apps every side serves (and wsgi.py for Gunicorn). */
export const appsDir = join(benchRoot, 'apps');

const APP_FILES: Record<AppKind, string> = {
  plain: 'handlers.mjs',
  express: 'express.mjs',
  koa: 'koa.mjs',
  hono: 'hono.mjs',
  ws: 'ws-echo.mjs',
  fastify: 'fastify.mjs',
  'express-listen': join('listen', 'server.js'),
  // Written by `next build` (src/next-app.ts builds it when a scenario needs it).
  'next-standalone': join('next', '.next', 'standalone', 'server.js'),
};

/**
 * The same app exported instead of listened, for the apps that call their own listen(): what
 * kelpie serves as the reference for what capturing that listen costs.
 */
const EXPORTED_TWINS: Partial<Record<AppKind, string>> = {
  'express-listen': join('listen', 'export.js'),
};

/** The apps that call their own listen(), which each side runs as its main module. */
export const LISTENING_APPS: AppKind[] = ['express-listen', 'next-standalone'];

/** Preloaded (`--require`) where an app binds for itself: keeps it on loopback, says when it listens. */
export const loopbackPreload = join(appsDir, 'listen', 'loopback.cjs');

/**
 * The file kelpie is given for this kind of app: a module whose default export is the app, or for
 * the apps that listen by themselves, the file that does.
 */
export function appFile(kind: AppKind): string {
  return join(appsDir, APP_FILES[kind]);
}

/** The exported twin of an app that listens by itself (see EXPORTED_TWINS), or undefined. */
export function exportedTwin(kind: AppKind): string | undefined {
  const file = EXPORTED_TWINS[kind];
  return file && join(appsDir, file);
}

/** A script shipped by a dependency of the bench, resolved the way Node would from this package. */
export function packageFile(pkg: string, file: string): string {
  return join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), file);
}
