import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The fixture apps: each its own npm project (package.json and a committed package-lock.json),
 * outside the pnpm workspace, so the workspace install never downloads the frameworks. The test
 * setup installs each with `npm ci` when its node_modules was made from another lockfile, and
 * builds it the framework's own way when its sources or lockfile changed since the last build.
 * Stamps record both, so a second run (the other Node version in CI) reuses installs and builds.
 */

const run = promisify(execFile);

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

const INSTALL_STAMP = join('node_modules', '.kelpie-install-stamp');
const BUILD_STAMP = '.kelpie-build-stamp';

export const fixtureDir = (name: string): string => join(FIXTURES_DIR, name);

// npm reads npm_config_* variables; those a pnpm script run sets must not reach the fixtures'
// npm. NODE_PATH (pnpm's shims point it at the workspace) must not let a build find packages the
// fixture lacks, and vitest's NODE_ENV=test must not reach the frameworks' production builds.
function cleanEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  delete env.NODE_ENV;
  return { ...env, NODE_PATH: '', NEXT_TELEMETRY_DISABLED: '1' };
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function readStamp(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Every file of the fixture's own sources, in a stable order (no node_modules, outputs or stamps). */
function sourceFiles(dir: string, skip: Set<string>, base = dir): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    const rel = relative(base, path);
    if (skip.has(rel)) continue;
    if (entry.isDirectory()) files.push(...sourceFiles(path, skip, base));
    else if (entry.isFile()) files.push(rel);
  }
  return files;
}

function sourceHash(fixture: Fixture): string {
  const dir = fixtureDir(fixture.name);
  const skip = new Set(['node_modules', BUILD_STAMP, ...fixture.outputs]);
  const hash = createHash('sha256');
  for (const file of sourceFiles(dir, skip)) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(dir, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

async function npm(args: string[], cwd: string): Promise<void> {
  try {
    await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd,
      env: cleanEnv(),
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: error });
  }
}

/** `npm ci` unless node_modules was installed from this very lockfile. Returns whether it ran. */
export async function install(fixture: Fixture): Promise<boolean> {
  const dir = fixtureDir(fixture.name);
  const lock = sha256(readFileSync(join(dir, 'package-lock.json')));
  if (readStamp(join(dir, INSTALL_STAMP)) === lock) return false;
  await npm(['ci', '--prefer-offline'], dir);
  writeFileSync(join(dir, INSTALL_STAMP), `${lock}\n`);
  return true;
}

/** `npm run build` (the framework's own build) unless the sources and lockfile are those of the last build. */
export async function build(fixture: Fixture): Promise<boolean> {
  const dir = fixtureDir(fixture.name);
  const hash = sourceHash(fixture);
  if (readStamp(join(dir, BUILD_STAMP)) === hash && existsSync(join(dir, fixture.entry))) return false;
  await npm(['run', 'build'], dir);
  if (!existsSync(join(dir, fixture.entry))) {
    throw new Error(`npm run build in ${dir} did not produce ${fixture.entry}`);
  }
  writeFileSync(join(dir, BUILD_STAMP), `${hash}\n`);
  return true;
}
