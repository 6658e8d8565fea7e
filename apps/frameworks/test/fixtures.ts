import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOnce, installOnce } from '@kelpie/testkit/npm-app';

/**
 * The fixture apps: each its own npm project (package.json and a committed package-lock.json),
 * outside the pnpm workspace, so the workspace install never downloads the frameworks. The test
 * setup installs each with `npm ci` when its node_modules was made from another lockfile, and
 * builds it the framework's own way when its sources or lockfile changed since the last build.
 * Stamps record both, so a second run (the other Node version in CI) reuses installs and builds
 * (@kelpie/testkit/npm-app, shared with the bench's Next.js app).
 */

export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface Fixture {
  /** Folder name under fixtures/. */
  name: string;
  /** What the framework's build writes (ignored by git, left out of the source hash). */
  outputs: string[];
  /** A file the build must have produced. */
  entry: string;
}

export const FIXTURES: readonly Fixture[] = [
  { name: 'nest', outputs: ['dist'], entry: 'dist/main.js' },
  { name: 'next', outputs: ['.next'], entry: '.next/standalone/server.js' },
  { name: 'nitro', outputs: ['.output', '.output-listener', '.nitro'], entry: '.output-listener/server/index.mjs' },
  { name: 'sveltekit', outputs: ['build', '.svelte-kit'], entry: 'build/index.js' },
  { name: 'react-router', outputs: ['build', '.react-router'], entry: 'build/server/index.js' },
];

export const fixtureDir = (name: string): string => join(FIXTURES_DIR, name);

/** `npm ci` unless node_modules was installed from this very lockfile. Returns whether it ran. */
export const install = (fixture: Fixture): Promise<boolean> => installOnce(fixtureDir(fixture.name));

/** `npm run build` (the framework's own build) unless the sources and lockfile are those of the last build. */
export const build = (fixture: Fixture): Promise<boolean> =>
  buildOnce(fixtureDir(fixture.name), { entry: fixture.entry, ignore: fixture.outputs });
