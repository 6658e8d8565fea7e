/**
 * Peers that come from the npm registry but are not the bench's own dependencies (a Node major
 * other than the one running the bench, Platformatic Watt, which needs a newer Node than the
 * workspace supports) are installed with npm into a folder of the user's cache, once, and reused
 * by later runs. An install goes to a temporary folder that is renamed into place when complete,
 * so an interrupted or concurrent install never leaves a half-filled folder behind.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

const NPM_TIMEOUT_MS = 10 * 60_000;

/** `$KELPIE_BENCH_CACHE`, else `kelpie-bench` in `$XDG_CACHE_HOME` (default `~/.cache`). */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.KELPIE_BENCH_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kelpie-bench');
}

export type Installed = { dir: string; reason?: undefined } | { dir?: undefined; reason: string };

/**
 * npm's own explanation, on one line: its first `npm error` message that says what failed (not
 * the code, syscall or errno lines, a stack frame or the log-file pointer), else its last line.
 */
export function npmReason(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const messages = lines
    .filter((line) => /^npm (error|ERR!)/.test(line))
    .map((line) => line.replace(/^npm (error|ERR!)\s*/, ''));
  const telling = messages.find(
    (message) => message && !/^(code|syscall|errno|path|dest)\b|^at |complete log of this run|^[{}]/.test(message),
  );
  return telling ?? messages[0] ?? lines.at(-1) ?? 'no output';
}

function npmInstall(dir: string, specs: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      'npm',
      ['install', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel=error', ...specs],
      { timeout: NPM_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) resolve(undefined);
        else if ((error as NodeJS.ErrnoException).code === 'ENOENT') resolve('npm is not available');
        else resolve(npmReason(`${stdout}\n${stderr}`) || error.message);
      },
    );
  });
}

async function install(name: string, specs: string[], probe: string): Promise<Installed> {
  const root = cacheRoot();
  const dir = join(root, name);
  if (existsSync(join(dir, probe))) return { dir };
  console.log(`bench: installing ${specs.join(' ')} with npm into ${dir} (once)...`);
  try {
    await mkdir(root, { recursive: true });
    const staging = await mkdtemp(join(root, `.${name}-`));
    try {
      const failed = await npmInstall(staging, specs);
      if (failed) return { reason: `npm install ${specs.join(' ')} failed: ${failed}` };
      if (!existsSync(join(staging, probe)))
        return { reason: `npm installed ${specs.join(' ')} but ${probe} is missing` };
      // Another run may have finished the same install meanwhile: then its folder is kept.
      await rename(staging, dir).catch((error: NodeJS.ErrnoException) => {
        if (!existsSync(join(dir, probe))) throw error;
      });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  } catch (error) {
    return { reason: `cannot install ${specs.join(' ')} into ${dir}: ${(error as Error).message}` };
  }
  return { dir };
}

const installs = new Map<string, Promise<Installed>>();

/**
 * The cache folder `name` holding `specs` installed with npm (`probe`, a path inside it, tells
 * an install is complete), installing them when missing; or why that failed.
 */
export function ensureNpmFolder(name: string, specs: string[], probe: string): Promise<Installed> {
  let pending = installs.get(name);
  if (!pending) {
    pending = install(name, specs, probe);
    installs.set(name, pending);
  }
  return pending;
}
