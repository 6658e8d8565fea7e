/**
 * The bench's real page: apps/next, a Next.js app (its own package.json and package-lock.json,
 * outside the pnpm workspace, so `pnpm install` never downloads Next) built with `output:
 * 'standalone'`. Installed (`npm ci`) and built (`next build`, about a minute) in place, only when
 * a scenario needs it and only when its lockfile or sources changed since the last time (stamp
 * files hold their hashes); at most once per run. The bench never builds it during tests.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { npmReason } from './peers/npm-cache.js';
import { appsDir } from './peers/paths.js';

export const nextAppDir = join(appsDir, 'next');
/** What `next build` writes and the bench must serve. */
export const NEXT_STANDALONE_SERVER = join('.next', 'standalone', 'server.js');
const INSTALL_STAMP = join('node_modules', '.kelpie-install-stamp');
const BUILD_STAMP = '.kelpie-build-stamp';
/** Not sources: what the install and build write, and what a Watt run writes for itself (its config, a cache folder). */
const NOT_SOURCES = new Set(['node_modules', '.next', BUILD_STAMP, 'watt.json', 'cache']);
const NPM_TIMEOUT_MS = 10 * 60_000;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function readStamp(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The app's own files, relative and sorted (no node_modules, no build output, no stamps). */
export function sourceFiles(dir: string, base = dir): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (NOT_SOURCES.has(entry.name) && dir === base) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path, base));
    else if (entry.isFile()) files.push(relative(base, path));
  }
  return files;
}

function sourceHash(dir: string): string {
  const hash = createHash('sha256');
  for (const file of sourceFiles(dir))
    hash
      .update(`${file}\0`)
      .update(readFileSync(join(dir, file)))
      .update('\0');
  return hash.digest('hex');
}

/** npm in the app's folder, with none of the npm_config_* a pnpm script sets, nor vitest's NODE_ENV. */
function npm(args: string[], dir: string): Promise<string | undefined> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  delete env.NODE_ENV;
  return new Promise((resolve) => {
    execFile(
      'npm',
      [...args, '--no-audit', '--no-fund', '--loglevel=error'],
      {
        cwd: dir,
        env: { ...env, NODE_PATH: '', NEXT_TELEMETRY_DISABLED: '1' },
        timeout: NPM_TIMEOUT_MS,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (!error) resolve(undefined);
        else if ((error as NodeJS.ErrnoException).code === 'ENOENT') resolve('npm is not available');
        else resolve(`npm ${args.join(' ')} failed: ${npmReason(`${stdout}\n${stderr}`) || error.message}`);
      },
    );
  });
}

async function installAndBuild(dir: string): Promise<string | undefined> {
  const lock = sha256(readFileSync(join(dir, 'package-lock.json')));
  if (readStamp(join(dir, INSTALL_STAMP)) !== lock) {
    console.log(`bench: installing the Next.js app's dependencies (npm ci in ${dir})...`);
    const failed = await npm(['ci', '--prefer-offline'], dir);
    if (failed) return failed;
    writeFileSync(join(dir, INSTALL_STAMP), `${lock}\n`);
  }
  const hash = sourceHash(dir);
  if (readStamp(join(dir, BUILD_STAMP)) === hash && existsSync(join(dir, NEXT_STANDALONE_SERVER))) return undefined;
  console.log(`bench: building the Next.js app (next build in ${dir}, about a minute)...`);
  const failed = await npm(['run', 'build'], dir);
  if (failed) return failed;
  if (!existsSync(join(dir, NEXT_STANDALONE_SERVER))) return `next build did not write ${NEXT_STANDALONE_SERVER}`;
  writeFileSync(join(dir, BUILD_STAMP), `${hash}\n`);
  return undefined;
}

let prepared: Promise<string | undefined> | undefined;

/** Installs and builds apps/next when needed, once per run; resolves with why it cannot be served, or undefined. */
export function prepareNextApp(): Promise<string | undefined> {
  prepared ??= installAndBuild(nextAppDir).then(
    (reason) => reason && `the Next.js app is not built: ${reason}`,
    (error: Error) => `the Next.js app is not built: ${error.message.split('\n')[0]}`,
  );
  return prepared;
}
