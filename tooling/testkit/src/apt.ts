/**
 * Finding an executable, and installing its Debian package when it is missing, so a fresh Debian
 * machine can run the bench's peers and the browser tests. Callers decide what a failed install
 * means: the bench skips the peer, a browser test fails with how to install it.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

// nginx lives in /usr/sbin, which is not on an ordinary user's PATH on Debian.
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const APT_TIMEOUT_MS = 15 * 60_000;

/** The absolute path of an executable on PATH (or in the sbin directories), or undefined. */
export function findCommand(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN_DIRS];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

interface AptResult {
  ok: boolean;
  output: string;
}

function aptGet(args: string[]): Promise<AptResult> {
  return new Promise((resolve) => {
    execFile(
      'apt-get',
      args,
      {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        maxBuffer: 64 * 1024 * 1024,
        timeout: APT_TIMEOUT_MS,
      },
      (error, stdout, stderr) => {
        const missing = (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
        resolve({ ok: !error, output: missing ? 'apt-get is not available' : `${stdout}\n${stderr}` });
      },
    );
  });
}

/** apt-get's own explanation: its `E:` lines, else its last line. */
function reason(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const errors = lines.filter((line) => line.startsWith('E:'));
  return (errors.length ? errors.join(' ') : lines.at(-1)) ?? 'no output';
}

const NO_PACKAGE_LIST = /Unable to locate package|has no installation candidate/;

async function install(command: string, debianPackage: string): Promise<string | undefined> {
  console.log(`${command} is not installed: installing the Debian package ${debianPackage} (apt-get install -y)...`);
  let result = await aptGet(['install', '-y', debianPackage]);
  if (!result.ok && NO_PACKAGE_LIST.test(result.output)) {
    // A fresh container has no package lists yet.
    console.log(`apt-get does not know ${debianPackage} yet: running apt-get update first...`);
    const update = await aptGet(['update']);
    if (!update.ok) return `${command} is not installed and apt-get update failed: ${reason(update.output)}`;
    result = await aptGet(['install', '-y', debianPackage]);
  }
  if (!result.ok)
    return `${command} is not installed and apt-get install ${debianPackage} failed: ${reason(result.output)}`;
  if (!findCommand(command)) return `apt-get installed ${debianPackage} but ${command} is still not found`;
  return undefined;
}

// Callers wanting the same package (gunicorn-sync and gunicorn-gthread, several browser test
// files) share one install: two apt-get runs at once would fight over the dpkg lock.
const installs = new Map<string, Promise<string | undefined>>();

/** Resolves undefined when `command` is usable (installing `debianPackage` if needed), else why not. */
export function ensureCommand(command: string, debianPackage: string): Promise<string | undefined> {
  if (findCommand(command)) return Promise.resolve(undefined);
  let pending = installs.get(debianPackage);
  if (!pending) {
    pending = install(command, debianPackage);
    installs.set(debianPackage, pending);
  }
  return pending;
}
