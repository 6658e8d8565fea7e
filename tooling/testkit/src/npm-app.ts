/**
 * An npm project kept outside the pnpm workspace (its own package.json and committed
 * package-lock.json, so the workspace install never downloads it): the frameworks suite's fixture
 * apps and the bench's Next.js app. `installOnce` runs `npm ci` unless node_modules was installed
 * from this very lockfile; `buildOnce` runs `npm run build` unless the sources (the lockfile among
 * them) are those of the last build and the build's entry is there. Stamp files hold the hashes,
 * so a later run (the other Node version in CI, the next bench run) reuses installs and builds.
 * Both throw when npm fails; callers decide what that means (a failed test setup, a skipped scenario).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Relative to the app's folder: the lockfile's hash, written after `npm ci`. */
export const INSTALL_STAMP = join('node_modules', '.kelpie-install-stamp');
/** Relative to the app's folder: the sources' hash, written after `npm run build`. */
export const BUILD_STAMP = '.kelpie-build-stamp';

export interface NpmOptions {
  /** Kill npm after this many milliseconds; default: no limit. */
  timeoutMs?: number;
  /** Called just before npm starts (not when the stamp says there is nothing to do), to say why the wait. */
  onStart?: () => void;
}

export interface BuildOptions extends NpmOptions {
  /** A file, relative to the app's folder, the build must produce. */
  entry: string;
  /**
   * Paths relative to the app's folder that are not sources and stay out of the hash: what the
   * build writes, what runs of the app write. node_modules and the build stamp never count.
   */
  ignore?: readonly string[];
}

/** npm exited with an error or could not start (`cause.code` is then `ENOENT`); its output is kept. */
export class NpmFailed extends Error {
  constructor(
    readonly args: readonly string[],
    readonly dir: string,
    readonly stdout: string,
    readonly stderr: string,
    cause: Error,
  ) {
    super(`npm ${args.join(' ')} failed in ${dir}:\n${stdout}\n${stderr}`, { cause });
    this.name = 'NpmFailed';
  }
}

/** `npm run build` succeeded but did not write the entry it should have. */
export class BuildEntryMissing extends Error {
  constructor(
    readonly dir: string,
    readonly entry: string,
  ) {
    super(`npm run build in ${dir} did not produce ${entry}`);
    this.name = 'BuildEntryMissing';
  }
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function readStamp(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The app's own files, relative and in a stable order: not node_modules, the build stamp or `ignore`. */
export function sourceFiles(dir: string, ignore: readonly string[] = []): string[] {
  return walk(dir, new Set(['node_modules', BUILD_STAMP, ...ignore]), dir);
}

function walk(dir: string, skip: Set<string>, base: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    const rel = relative(base, path);
    if (skip.has(rel)) continue;
    if (entry.isDirectory()) files.push(...walk(path, skip, base));
    else if (entry.isFile()) files.push(rel);
  }
  return files;
}

function sourceHash(dir: string, ignore: readonly string[] | undefined): string {
  const hash = createHash('sha256');
  for (const file of sourceFiles(dir, ignore)) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(dir, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

// npm reads npm_config_* variables; those a pnpm script run sets must not reach the app's npm.
// NODE_PATH (pnpm's shims point it at the workspace) must not let a build find packages the app
// lacks, and vitest's NODE_ENV=test must not reach the frameworks' production builds.
function cleanEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  delete env.NODE_ENV;
  return { ...env, NODE_PATH: '', NEXT_TELEMETRY_DISABLED: '1' };
}

function npm(args: string[], dir: string, options: NpmOptions): Promise<void> {
  options.onStart?.();
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      [...args, '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: dir, env: cleanEnv(), timeout: options.timeoutMs ?? 0, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new NpmFailed(args, dir, stdout, stderr, error));
        else resolve();
      },
    );
  });
}

/** `npm ci` unless node_modules was installed from this very lockfile. Resolves with whether it ran. */
export async function installOnce(dir: string, options: NpmOptions = {}): Promise<boolean> {
  const lock = sha256(readFileSync(join(dir, 'package-lock.json')));
  if (readStamp(join(dir, INSTALL_STAMP)) === lock) return false;
  await npm(['ci', '--prefer-offline'], dir, options);
  // npm ci writes no node_modules for an app without dependencies.
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  writeFileSync(join(dir, INSTALL_STAMP), `${lock}\n`);
  return true;
}

/** `npm run build` unless the sources are those of the last build and its entry exists. Resolves with whether it ran. */
export async function buildOnce(dir: string, options: BuildOptions): Promise<boolean> {
  const hash = sourceHash(dir, options.ignore);
  if (readStamp(join(dir, BUILD_STAMP)) === hash && existsSync(join(dir, options.entry))) return false;
  await npm(['run', 'build'], dir, options);
  if (!existsSync(join(dir, options.entry))) throw new BuildEntryMissing(dir, options.entry);
  writeFileSync(join(dir, BUILD_STAMP), `${hash}\n`);
  return true;
}
